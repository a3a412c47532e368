/* Reporting a failed step to the supervisor (protocol.h) and ending the shim. */
#ifndef BERTH_SHIM_REPORT_H
#define BERTH_SHIM_REPORT_H

/* The container's name, for the line on stderr; set once the spec is parsed. */
void shim_report_set_name(const char* name);

/* Writes one struct berth_shim_failure {error, "step object"} to the status fd (object is
 * left out when NULL; the text is cut at BERTH_SHIM_STEP_MAX - 1 bytes), a line
 * "berth-shim NAME: step object: errno text" to stderr, and exits BERTH_SHIM_EXIT_FAILED. */
_Noreturn void shim_fail(int error, const char* step, const char* object);

/* The same for a bad spec: step "spec: what: word" (": word" left out when word is NULL),
 * error 0. */
_Noreturn void shim_fail_spec(const char* what, const char* word);

#endif
