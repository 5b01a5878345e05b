/* unwind_cie.S - libudiff_cie_{plain,r15,end}.so for unwind_diff's
 * "cie" scenario: one function, alone in its library (no start files, no
 * unwind info of the linker's), so that its CIE is the first thing in
 * .eh_frame, at the same address in the three libraries, and of the same
 * size. The plain CIE has the return address at CFA-8. Built with
 * -DRETURN_R15, it names r15 as the return address column, saved at
 * CFA-8 where the return address is: libunwind walks it alike, the fast
 * unwinder hands it over (it proves return addresses in rip's column
 * only). With -DOUTERMOST, the return address is undefined: the stack
 * ends in this function. The FDEs are alike. */
	.text
	.globl	cie_alloc_run
	.type	cie_alloc_run, @function
cie_alloc_run:
	.cfi_startproc simple
#ifdef RETURN_R15
	.cfi_return_column %r15
#endif
	.cfi_def_cfa %rsp, 8
#ifdef OUTERMOST
	.cfi_undefined %rip
#else
	.cfi_offset %rip, -8
#endif
#ifdef RETURN_R15
	.cfi_offset %r15, -8
#endif
	pushq	%rbx
	.cfi_def_cfa_offset 16
	.cfi_offset %rbx, -16
	movl	$56, %edi
	call	malloc@PLT
	movq	%rax, %rbx
	movq	%rax, %rdi
	call	free@PLT
	movl	$1, %eax
	popq	%rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	cie_alloc_run, .-cie_alloc_run
	.section	.note.GNU-stack,"",@progbits
