/* SPDX-License-Identifier: MIT */
/*
 * runtime/arch/x86_64/switch.S - the goroutine context switch.
 *
 * void ctx_switch(struct ctx *from, struct ctx *to)
 *
 * Saves the callee-saved state of the SysV ABI on the current stack (rbp,
 * rbx, r12-r15, MXCSR and the x87 control word), stores the stack pointer
 * in from->sp, loads to->sp and restores the same state from there.  Every
 * other register is caller-saved, so the C caller has already spilled what
 * it needs.  No system call, no signal mask: a few nanoseconds.
 *
 * A new context (ctx_init) starts in ctx_entry with r12 = entry function
 * and r13 = its argument; ctx_entry calls entry(arg) on a 16-byte aligned
 * stack with a zero frame pointer (the end of every backtrace).  entry must
 * never return.
 */
	.text
	.globl	ctx_switch
	.hidden	ctx_switch
	.type	ctx_switch, @function
	.p2align 4
ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	ctx_switch, .-ctx_switch

	.globl	ctx_entry
	.hidden	ctx_entry
	.type	ctx_entry, @function
	.p2align 4
ctx_entry:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	ctx_entry, .-ctx_entry

	.section .note.GNU-stack,"",@progbits
