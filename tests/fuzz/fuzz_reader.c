/* fuzz_reader.c - libFuzzer target for the profile reader: any input must
 * read or be rejected with a message, without a crash, a hang, a leak or
 * a sanitizer report. Built with clang -fsanitize=fuzzer,address,undefined
 * by tests/fuzz/run.sh, which also replays tests/fuzz/corpus. */
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	pf_file *f = pf_read_mem("fuzz", data, size, err, sizeof err);
	if (f) {
		/* touch what the views derive from a file */
		for (size_t i = 0; i < f->nstacks; i++)
			if (f->stacks[i])
				for (uint32_t k = 0; k < f->stacks[i]->depth; k++)
					(void)pf_module_for(f, f->stacks[i]->ips[k],
							    f->stacks[i]->map_epoch);
		pf_free(f);
	}
	return 0;
}
