/* berth_clone3: clone3(2) with a function to run in the child on its own stack.
 *
 * long berth_clone3(struct clone_args* args, size_t size, int (*fn)(void*), void* arg);
 *
 * Needed because a child created with CLONE_VM shares the caller's memory: it must not
 * return through the caller's stack frames the way a fork child would. The kernel starts the
 * child with its stack pointer at args->stack + args->stack_size; this stub calls fn(arg)
 * there and passes its return value to exit(2). In the parent it returns the child's pid,
 * or -errno. fn and arg ride across the syscall in r8/r9, which the syscall preserves.
 */
#if defined(__x86_64__)
    .text
    .globl berth_clone3
    .type berth_clone3, @function
berth_clone3:
    .cfi_startproc
    movq %rdx, %r8
    movq %rcx, %r9
    movl $435, %eax            /* __NR_clone3 */
    syscall
    testq %rax, %rax
    jnz 1f
    /* child: fresh stack, no frame to return to */
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r9, %rdi
    callq *%r8
    movl %eax, %edi
    movl $60, %eax             /* __NR_exit */
    syscall
    hlt
1:
    ret
    .cfi_endproc
    .size berth_clone3, .-berth_clone3
#else
#error "berth_clone3 is written for x86_64 only (see docs/architecture.md)"
#endif
    .section .note.GNU-stack,"",@progbits
