/* SPDX-License-Identifier: MIT */
/*
 * runtime/arch/x86_64/preempt.S - the asynchronous preemption trampoline.
 *
 * The SIGURG handler (runtime/preempt.c) does not switch goroutines itself:
 * it moves the interrupted stack pointer below the 128-byte red zone, pushes
 * the interrupted instruction pointer there, and makes the signal return
 * into async_preempt, as if the goroutine had called it at that
 * instruction.  async_preempt saves everything the interrupted code may be
 * using: the flags, every general register, and the whole extended state
 * (XSAVE of every component XCR0 enables: x87, SSE, AVX, AVX-512...; its
 * size comes from CPUID leaf 0xD, so it differs between CPUs; FXSAVE where
 * the CPU has no XSAVE), calls async_preempt_park (which yields to the
 * scheduler and returns when the goroutine runs again, maybe on another
 * thread), restores it all and returns to the interrupted instruction,
 * popping the red zone (ret $128).
 */
	.text
	.globl	async_preempt
	.hidden	async_preempt
	.type	async_preempt, @function
	.p2align 4
async_preempt:
	pushfq
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rbx
	pushq	%rbp
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %rbx		/* callee-saved: survives the call */
	subq	preempt_xsave_size(%rip), %rsp
	andq	$-64, %rsp		/* XSAVE wants 64-byte alignment */
	cld				/* the ABI's direction flag for C */
	cmpb	$0, preempt_use_xsave(%rip)
	je	1f
	/* The 64-byte XSAVE header must start zeroed for XRSTOR. */
	xorl	%eax, %eax
	movq	%rax, 512(%rsp)
	movq	%rax, 520(%rsp)
	movq	%rax, 528(%rsp)
	movq	%rax, 536(%rsp)
	movq	%rax, 544(%rsp)
	movq	%rax, 552(%rsp)
	movq	%rax, 560(%rsp)
	movq	%rax, 568(%rsp)
	movl	$-1, %eax
	movl	$-1, %edx
	xsave64	(%rsp)
	jmp	2f
1:	fxsave64 (%rsp)
2:	call	async_preempt_park
	cmpb	$0, preempt_use_xsave(%rip)
	je	3f
	movl	$-1, %eax
	movl	$-1, %edx
	xrstor64 (%rsp)
	jmp	4f
3:	fxrstor64 (%rsp)
4:	movq	%rbx, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rbp
	popq	%rbx
	popq	%rdx
	popq	%rcx
	popq	%rax
	popfq
	ret	$128
	.size	async_preempt, .-async_preempt

	.section .note.GNU-stack,"",@progbits
