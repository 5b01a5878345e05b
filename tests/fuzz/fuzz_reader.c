/* fuzz_reader.c - libFuzzer target for the profile reader: any input must
 * read or be rejected with a message, without a crash, a hang, a leak or
 * a sanitizer report. Built with clang -fsanitize=fuzzer,address,undefined
 * by tests/fuzz/run.sh, which also replays tests/fuzz/corpus.
 *
 * Every record carries a crc32, so a plain byte mutation almost never gets
 * past the reader's crc check into the record parsers. The custom mutator
 * below mutates as libFuzzer would, then rewrites the crc of every whole
 * record (except in one mutation out of eight, which keeps testing the
 * check itself). */
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "profile.h"
#include "psformat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);

/* Rewrites the crc32 of every record that lies whole inside data. */
static void fix_record_crcs(uint8_t *data, size_t size)
{
	if (size < PS_FORMAT_HEADER_SIZE)
		return;
	size_t off = ps_get_u32le(data + 12);
	if (off < PS_FORMAT_HEADER_SIZE || off > size)
		off = PS_FORMAT_HEADER_SIZE;
	while (size - off >= PS_RECORD_OVERHEAD) {
		uint32_t len = ps_get_u32le(data + off + 4);
		if ((uint64_t)len + PS_RECORD_OVERHEAD > size - off)
			return;
		ps_put_u32le(data + off + 8 + len,
			     (uint32_t)crc32(0L, data + off, 8 + len));
		off += PS_RECORD_OVERHEAD + len;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8)
		fix_record_crcs(data, size);
	return size;
}

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
