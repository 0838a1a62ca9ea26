// The files of test/fixtures/ (see its README for where each comes from and its licence).

/** Enhanced FLV: AV1 video and Opus audio, 10 s (veovera/enhanced-rtmp, Apache 2.0). */
export const AV1_OPUS_FLV = new URL(
  '../fixtures/enhanced-rtmp/av1-opus-testsrc.flv',
  import.meta.url,
);

/** RTMP parser fuzz seeds (bluenviron/gortmplib corpora, MIT). */
export const RTMP_FUZZ_SEEDS = new URL('../fixtures/rtmp-fuzz-seeds/seeds.json', import.meta.url);
