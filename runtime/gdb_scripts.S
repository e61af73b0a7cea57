/* SPDX-License-Identifier: MIT */
/*
 * runtime/gdb_scripts.S - scripts/ringo-gdb.py, carried in the library's
 * .debug_gdb_scripts section, from which gdb loads it with the library
 * (or with a program linked with libringo.a) where its auto-load
 * safe-path allows.  An entry of type 4 holds a Python script's text: a
 * name line, the text, a NUL.  The text is included at build time, so the
 * script and what the library carries never differ.
 */
	.pushsection .debug_gdb_scripts, "MS", @progbits, 1
	.byte	4
	.ascii	"gdb.inlined-script.ringo\n"
	.incbin	"scripts/ringo-gdb.py"
	.byte	0
	.popsection

	/* What runtime/proc.c refers to, so that a program linking the
	 * objects one by one (the tests) takes this one too. */
	.section .rodata
	.globl	ringo_gdb_script_anchor
	.hidden	ringo_gdb_script_anchor
ringo_gdb_script_anchor:
	.byte	0
	.section .note.GNU-stack, "", @progbits
