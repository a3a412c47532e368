/* The floor's workload: a static musl program that does nothing, for posix_spawn timing. */
int main(void) {
    return 0;
}
