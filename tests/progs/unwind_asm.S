/* unwind_asm.S - frames with unusual call-frame information, for the
 * unwinder differential test (unwind_diff.c). Each function takes a
 * callback in %rdi and calls it from a frame whose CFI is one of:
 *
 *   asm_cfa_r12       CFA in r12: not provable, libunwind must walk it
 *   asm_row_at_ra     a new CFI row starts exactly at the return address
 *                     (the row that applies is the one at RA - 1)
 *   asm_call_last     the call is the function's last instruction, so the
 *                     return address is the next function's first byte;
 *                     the callback must not return (it longjmps)
 *   asm_after_last    that next function (CFA = rsp + 8 at its start)
 *   asm_rbp_frame     rbp-based CFA, rbp saved below two other registers
 *   asm_drap          gcc's realigned-stack frame: CFA and rbp by DWARF
 *                     expressions (libunwind's ALIGNED frame)
 *   asm_ra_undefined  return address marked undefined: the walk ends here
 *   asm_remember      remember_state/restore_state around an early exit
 *   asm_padded_leb    operands in LEB128 padded to 10 bytes, the most a
 *                     64-bit value takes (legal: a value's encoding may
 *                     carry 0x80 bytes; some producers pad to patch later)
 */
	.text

	.globl asm_cfa_r12
	.type asm_cfa_r12, @function
asm_cfa_r12:
	.cfi_startproc
	push %r12
	.cfi_def_cfa_offset 16
	.cfi_offset r12, -16
	mov %rsp, %r12
	.cfi_def_cfa_register r12
	sub $40, %rsp
	and $-16, %rsp
	call *%rdi
	mov %r12, %rsp
	.cfi_def_cfa_register rsp
	pop %r12
	.cfi_restore r12
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size asm_cfa_r12, .-asm_cfa_r12

	.globl asm_row_at_ra
	.type asm_row_at_ra, @function
asm_row_at_ra:
	.cfi_startproc
	sub $24, %rsp
	.cfi_def_cfa_offset 32
	call *%rdi
	/* deliberately wrong for the one instruction at the return address:
	 * an unwinder that looks up RA instead of RA - 1 reads garbage */
	.cfi_def_cfa_offset 8
	nop
	.cfi_def_cfa_offset 32
	add $24, %rsp
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size asm_row_at_ra, .-asm_row_at_ra

	.globl asm_call_last
	.type asm_call_last, @function
asm_call_last:
	.cfi_startproc
	sub $40, %rsp
	.cfi_def_cfa_offset 48
	call *%rdi
	.cfi_endproc
	.size asm_call_last, .-asm_call_last

	.globl asm_after_last
	.type asm_after_last, @function
asm_after_last:
	.cfi_startproc
	ret
	.cfi_endproc
	.size asm_after_last, .-asm_after_last

	.globl asm_rbp_frame
	.type asm_rbp_frame, @function
asm_rbp_frame:
	.cfi_startproc
	push %rbx
	.cfi_def_cfa_offset 16
	.cfi_offset rbx, -16
	push %r13
	.cfi_def_cfa_offset 24
	.cfi_offset r13, -24
	push %rbp
	.cfi_def_cfa_offset 32
	.cfi_offset rbp, -32
	mov %rsp, %rbp
	.cfi_def_cfa_register rbp
	sub $64, %rsp
	and $-32, %rsp
	call *%rdi
	mov %rbp, %rsp
	.cfi_def_cfa_register rsp
	pop %rbp
	.cfi_restore rbp
	.cfi_def_cfa_offset 24
	pop %r13
	.cfi_restore r13
	.cfi_def_cfa_offset 16
	pop %rbx
	.cfi_restore rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size asm_rbp_frame, .-asm_rbp_frame

	.globl asm_drap
	.type asm_drap, @function
asm_drap:
	.cfi_startproc
	lea 8(%rsp), %r10
	.cfi_def_cfa r10, 0
	and $-32, %rsp
	push -8(%r10)
	push %rbp
	/* DW_CFA_expression rbp: DW_OP_breg6 0 */
	.cfi_escape 0x10, 0x6, 0x2, 0x76, 0x0
	mov %rsp, %rbp
	push %r10
	/* DW_CFA_def_cfa_expression: DW_OP_breg6 -8; DW_OP_deref */
	.cfi_escape 0xf, 0x3, 0x76, 0x78, 0x6
	sub $24, %rsp
	call *%rdi
	mov -8(%rbp), %r10
	.cfi_def_cfa r10, 0
	mov (%rbp), %rax
	mov %rax, %rbp
	.cfi_restore rbp
	lea -8(%r10), %rsp
	.cfi_def_cfa rsp, 8
	ret
	.cfi_endproc
	.size asm_drap, .-asm_drap

	.globl asm_ra_undefined
	.type asm_ra_undefined, @function
asm_ra_undefined:
	.cfi_startproc
	.cfi_undefined rip
	sub $8, %rsp
	.cfi_adjust_cfa_offset 8
	call *%rdi
	add $8, %rsp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size asm_ra_undefined, .-asm_ra_undefined

	.globl asm_remember
	.type asm_remember, @function
asm_remember:
	.cfi_startproc
	push %rbx
	.cfi_def_cfa_offset 16
	.cfi_offset rbx, -16
	mov %rdi, %rbx
	test %rsi, %rsi
	jz 1f
	.cfi_remember_state
	pop %rbx
	.cfi_restore rbx
	.cfi_def_cfa_offset 8
	ret
1:
	.cfi_restore_state
	call *%rbx
	call *%rbx
	pop %rbx
	.cfi_restore rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size asm_remember, .-asm_remember

	.globl asm_padded_leb
	.type asm_padded_leb, @function
asm_padded_leb:
	.cfi_startproc
	push %rbx
	/* def_cfa_offset 16, the ULEB128 padded */
	.cfi_escape 0x0e, 0x90, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00
	/* def_cfa_offset_sf -2 (x data alignment -8: 16), the SLEB128 padded */
	.cfi_escape 0x13, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
	/* offset_extended_sf rbx, 2 (x -8: CFA-16), the SLEB128 padded */
	.cfi_escape 0x11, 0x03, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00
	call *%rdi
	pop %rbx
	.cfi_restore rbx
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size asm_padded_leb, .-asm_padded_leb


/* Without call-frame information, called with rbp 0 (as glibc's
 * _dl_start_user calls the constructors): libunwind ends the stack at
 * such a frame unless the code at its return address is a sigreturn or
 * a PLT entry (ff 25 .. 68 .. e9). Each function below has one half of
 * the PLT pattern at its return address, not both, so the stack ends
 * there: the fast walk must end it too (ends_at_null_rbp), not hand it
 * to libunwind.
 *
 *   asm_null_rbp_jmp  a jmp (e9) at RA + 11, no "ff 25 .. 68" before it
 *   asm_null_rbp_plt  "ff 25 <rel32> 68" at RA, no e9 at RA + 11 (the
 *                     indirect jmp goes through a slot to the epilogue) */
	.p2align 6
	.globl asm_null_rbp_jmp
	.type asm_null_rbp_jmp, @function
asm_null_rbp_jmp:
	push %rbp
	xor %ebp, %ebp
	call *%rdi
	pop %rbp		/* RA + 0 */
	ret			/* RA + 1 */
	.fill 9, 1, 0xcc	/* RA + 2 .. RA + 10 */
	.byte 0xe9		/* RA + 11: jmp rel32, never run */
	.long 0
	.size asm_null_rbp_jmp, .-asm_null_rbp_jmp

	.p2align 6
	.globl asm_null_rbp_plt
	.type asm_null_rbp_plt, @function
asm_null_rbp_plt:
	push %rbp
	xor %ebp, %ebp
	call *%rdi
	jmp *null_rbp_plt_slot(%rip)	/* RA + 0: ff 25 rel32 */
	.byte 0x68, 0, 0, 0, 0	/* RA + 6: push imm32, never run */
	.byte 0x90		/* RA + 11: not e9 */
	.fill 4, 1, 0xcc
null_rbp_plt_out:
	pop %rbp
	ret
	.size asm_null_rbp_plt, .-asm_null_rbp_plt

	.data
	.p2align 3
null_rbp_plt_slot:
	.quad null_rbp_plt_out
	.text

	.section .note.GNU-stack, "", @progbits
