/* The container's own network namespace (ns=net): its loopback, up. */
#ifndef BERTH_SHIM_NET_H
#define BERTH_SHIM_NET_H

/* A new network namespace starts with lo down, so not even 127.0.0.1 works; this brings it
 * up (two ioctls on a throwaway socket). Step: "bring up lo". */
void shim_bring_up_loopback(void);

#endif
