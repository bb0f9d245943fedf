/**
 * koffi binding of Debian's libpocketsphinx3 (0.8+5prealpha) and libsphinxbase3.
 *
 * Symbols used: sphinxbase `err_set_logfp`, `cmd_ln_init`, `cmd_ln_free_r`,
 * `ngram_model_read`, `ngram_model_free`, `fe_get_args`, `fe_init_auto_r`, `fe_start_utt`,
 * `fe_process_utt`, `fe_end_utt`, `fe_free_2d`, `fe_free`; pocketsphinx `ps_args`, `ps_init`,
 * `ps_free`, `ps_get_logmath`, `ps_set_lm`, `ps_set_search`, `ps_start_stream`,
 * `ps_start_utt`, `ps_process_raw`, `ps_process_cep`, `ps_get_hyp`, `ps_end_utt`, `ps_seg_iter`,
 * `ps_seg_next`, `ps_seg_word`, `ps_seg_frames`.
 *
 * Everything here is synchronous native code: call it from a worker thread only.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { LocalSttError, unavailable } from './errors.js';
import { DEBIAN_EN_US_MODEL, DEFAULT_DECODER_ARGS, type PocketSphinxModelPaths, SAMPLE_RATE } from './model.js';

const POCKETSPHINX_SONAME = 'libpocketsphinx.so.3';
const SPHINXBASE_SONAME = 'libsphinxbase.so.3';
const NGRAM_AUTO = 0;

/** Opaque native handles (koffi externals); branded so they cannot be mixed up. */
type Handle<B extends string> = { readonly __handle: B };
type CmdLn = Handle<'cmd_ln_t'>;
type Decoder = Handle<'ps_decoder_t'>;
type NgramModel = Handle<'ngram_model_t'>;
type ArgDefs = Handle<'arg_t'>;
type LogMath = Handle<'logmath_t'>;
type Segment = Handle<'ps_seg_t'>;
type FrontEnd = Handle<'fe_t'>;
type Pointer = Handle<'pointer'>;

interface Bindings {
  err_set_logfp(stream: null): void;
  /** Variadic: pairs of `'const char *', value`, terminated by `'const char *', null`. */
  cmd_ln_init(inout: null, defn: ArgDefs, strict: number, ...args: (string | null)[]): CmdLn | null;
  cmd_ln_free_r(config: CmdLn): number;
  ngram_model_read(config: CmdLn, path: string, type: number, lmath: LogMath): NgramModel | null;
  ngram_model_free(lm: NgramModel): number;
  ps_args(): ArgDefs;
  ps_init(config: CmdLn): Decoder | null;
  ps_free(ps: Decoder): number;
  ps_get_logmath(ps: Decoder): LogMath;
  ps_set_lm(ps: Decoder, name: string, lm: NgramModel): number;
  ps_set_search(ps: Decoder, name: string): number;
  ps_start_stream(ps: Decoder): number;
  ps_start_utt(ps: Decoder): number;
  ps_process_raw(ps: Decoder, data: Int16Array, nSamples: number, noSearch: number, fullUtt: number): number;
  ps_get_hyp(ps: Decoder, outBestScore: [number]): string | null;
  ps_end_utt(ps: Decoder): number;
  ps_seg_iter(ps: Decoder): Segment | null;
  ps_seg_next(seg: Segment): Segment | null;
  ps_seg_word(seg: Segment): string | null;
  ps_seg_frames(seg: Segment, outStart: [number], outEnd: [number]): void;
  ps_process_cep(ps: Decoder, frames: Float32Array[], nFrames: number, noSearch: number, fullUtt: number): number;
  fe_get_args(): ArgDefs;
  fe_init_auto_r(config: CmdLn): FrontEnd | null;
  fe_start_utt(fe: FrontEnd): number;
  fe_process_utt(fe: FrontEnd, samples: Int16Array, nSamples: number, outBlock: [Pointer | null], outFrames: [number]): number;
  fe_end_utt(fe: FrontEnd, outFrame: Float32Array, outFrames: [number]): number;
  fe_free_2d(block: Pointer): void;
  fe_free(fe: FrontEnd): number;
}

/** Candidate paths for a shared library: the loader's own search first, then multiarch dirs. */
function libraryCandidates(soname: string, dir?: string): string[] {
  if (dir !== undefined) return [join(dir, soname)];
  const dirs = ['/usr/lib', '/lib'].flatMap((root) => {
    try {
      return readdirSync(root)
        .filter((name) => name.endsWith('-linux-gnu'))
        .map((name) => join(root, name));
    } catch {
      return [];
    }
  });
  return [soname, ...dirs.map((d) => join(d, soname)), join('/usr/lib64', soname), join('/usr/local/lib', soname)];
}

function loadLibrary(soname: string, dir?: string): LibraryHandle {
  const errors: string[] = [];
  for (const candidate of libraryCandidates(soname, dir)) {
    if (candidate.includes('/') && !existsSync(candidate)) continue;
    try {
      return koffi.load(candidate);
    } catch (err) {
      errors.push(`${candidate}: ${(err as Error).message}`);
    }
  }
  throw unavailable(`cannot load ${soname}${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`);
}

let bindings: Bindings | undefined;

/** Loads both libraries once per thread; `libraryDir` overrides the search. */
function bind(libraryDir?: string): Bindings {
  if (bindings !== undefined) return bindings;
  // libpocketsphinx first: its DT_NEEDED pulls in the matching libsphinxbase.
  const ps = loadLibrary(POCKETSPHINX_SONAME, libraryDir);
  const sb = loadLibrary(SPHINXBASE_SONAME, libraryDir);
  for (const name of ['cmd_ln_t', 'ps_decoder_t', 'ngram_model_t', 'arg_t', 'logmath_t', 'ps_seg_t', 'fe_t']) koffi.opaque(name);
  const f = (lib: LibraryHandle, decl: string) => lib.func(decl);
  bindings = {
    err_set_logfp: f(sb, 'void err_set_logfp(void *stream)'),
    cmd_ln_init: f(sb, 'cmd_ln_t *cmd_ln_init(cmd_ln_t *inout, const arg_t *defn, int strict, ...)'),
    cmd_ln_free_r: f(sb, 'int cmd_ln_free_r(cmd_ln_t *config)'),
    ngram_model_read: f(sb, 'ngram_model_t *ngram_model_read(cmd_ln_t *config, const char *path, int type, logmath_t *lmath)'),
    ngram_model_free: f(sb, 'int ngram_model_free(ngram_model_t *lm)'),
    ps_args: f(ps, 'const arg_t *ps_args(void)'),
    ps_init: f(ps, 'ps_decoder_t *ps_init(cmd_ln_t *config)'),
    ps_free: f(ps, 'int ps_free(ps_decoder_t *ps)'),
    ps_get_logmath: f(ps, 'logmath_t *ps_get_logmath(ps_decoder_t *ps)'),
    ps_set_lm: f(ps, 'int ps_set_lm(ps_decoder_t *ps, const char *name, ngram_model_t *lm)'),
    ps_set_search: f(ps, 'int ps_set_search(ps_decoder_t *ps, const char *name)'),
    ps_start_stream: f(ps, 'int ps_start_stream(ps_decoder_t *ps)'),
    ps_start_utt: f(ps, 'int ps_start_utt(ps_decoder_t *ps)'),
    ps_process_raw: f(ps, 'int ps_process_raw(ps_decoder_t *ps, const int16_t *data, size_t n, int no_search, int full_utt)'),
    ps_get_hyp: f(ps, 'const char *ps_get_hyp(ps_decoder_t *ps, _Out_ int32_t *out_best_score)'),
    ps_end_utt: f(ps, 'int ps_end_utt(ps_decoder_t *ps)'),
    ps_seg_iter: f(ps, 'ps_seg_t *ps_seg_iter(ps_decoder_t *ps)'),
    ps_seg_next: f(ps, 'ps_seg_t *ps_seg_next(ps_seg_t *seg)'),
    ps_seg_word: f(ps, 'const char *ps_seg_word(ps_seg_t *seg)'),
    ps_seg_frames: f(ps, 'void ps_seg_frames(ps_seg_t *seg, _Out_ int *out_sf, _Out_ int *out_ef)'),
    ps_process_cep: f(ps, 'int ps_process_cep(ps_decoder_t *ps, float **data, int n_frames, int no_search, int full_utt)'),
    fe_get_args: f(sb, 'const arg_t *fe_get_args(void)'),
    fe_init_auto_r: f(sb, 'fe_t *fe_init_auto_r(cmd_ln_t *config)'),
    fe_start_utt: f(sb, 'int fe_start_utt(fe_t *fe)'),
    fe_process_utt: f(sb, 'int fe_process_utt(fe_t *fe, const int16_t *spch, size_t nsamps, _Out_ void **cep_block, _Out_ int32_t *nframes)'),
    fe_end_utt: f(sb, 'int fe_end_utt(fe_t *fe, _Out_ float *out_cepvector, _Out_ int32_t *out_nframes)'),
    fe_free_2d: f(sb, 'void fe_free_2d(void *arr)'),
    fe_free: f(sb, 'int fe_free(fe_t *fe)'),
  };
  // Logging goes to a process-global FILE* in sphinxbase. `-logfn` would make every
  // ps_init fopen a new file and fclose the previous one while decoders in other
  // worker threads may be writing to it, so logging is switched off once instead.
  bindings.err_set_logfp(null);
  return bindings;
}

function check(code: number, what: string): void {
  if (code < 0) throw new LocalSttError('local_stt_decode_failed', `${what} failed (${code})`);
}

const SEARCH_NAME = 'lm';

export interface EngineOptions {
  readonly model?: Partial<PocketSphinxModelPaths>;
  /** ps_init arguments over DEFAULT_DECODER_ARGS, e.g. `{ '-fwdflat': 'yes' }`; see `pocketsphinx_continuous -help`. */
  readonly decoderArgs?: Readonly<Record<string, string>>;
  /** Directory holding libpocketsphinx.so.3 and libsphinxbase.so.3; default: loader search, then multiarch dirs. */
  readonly libraryDir?: string;
  /** A feat.params file used instead of the model's own (which would override -lowerf/-upperf/-nfilt). */
  readonly featParams?: string;
}

/**
 * The model loaded once per thread. PocketSphinx has no way to share the acoustic
 * model or dictionary between decoders, but the n-gram LM can be shared: it is
 * read once here and attached to every decoder with ps_set_lm.
 */
export class PocketSphinxEngine {
  private readonly spare: PocketSphinxDecoder[] = [];
  private disposed = false;

  private constructor(
    private readonly lib: Bindings,
    private readonly args: readonly string[],
    private readonly lm: NgramModel,
    first: PocketSphinxDecoder,
    /** The acoustic model's feature parameters (feat.params), e.g. `{ nfilt: '25', lowerf: '130' }`. */
    readonly featureParams: Readonly<Record<string, string>>,
  ) {
    this.spare.push(first);
  }

  /** Loads the libraries, the model and one ready decoder; throws `local_stt_unavailable`. */
  static load(options: EngineOptions = {}): PocketSphinxEngine {
    const model = { ...DEBIAN_EN_US_MODEL, ...options.model };
    for (const [key, path] of Object.entries(model)) {
      if (!existsSync(path)) throw unavailable(`model ${key} not found at ${path}`);
    }
    const lib = bind(options.libraryDir);
    const args = [
      '-hmm', model.hmm, '-dict', model.dict, '-samprate', String(SAMPLE_RATE),
      ...(options.featParams !== undefined ? ['-featparams', options.featParams] : []),
      ...Object.entries({ ...DEFAULT_DECODER_ARGS, ...options.decoderArgs }).flat(),
    ];
    const config = makeConfig(lib, args);
    try {
      const ps = lib.ps_init(config);
      if (ps === null) throw unavailable(`ps_init failed for model ${model.hmm}`);
      const lm = lib.ngram_model_read(config, model.lm, NGRAM_AUTO, lib.ps_get_logmath(ps));
      if (lm === null) {
        lib.ps_free(ps);
        throw unavailable(`cannot read language model ${model.lm}`);
      }
      const featParams = options.featParams ?? join(model.hmm, 'feat.params');
      return new PocketSphinxEngine(lib, args, lm, new PocketSphinxDecoder(lib, attachLm(lib, ps, lm)), readFeatureParams(featParams));
    } finally {
      lib.cmd_ln_free_r(config);
    }
  }

  /** A decoder with its own acoustic model and search state (~58 MB, ~0.35 s to create). */
  createDecoder(): PocketSphinxDecoder {
    if (this.disposed) throw new Error('PocketSphinxEngine is disposed');
    const spare = this.spare.pop();
    if (spare !== undefined) return spare;
    const config = makeConfig(this.lib, this.args);
    try {
      const ps = this.lib.ps_init(config);
      if (ps === null) throw unavailable('ps_init failed');
      return new PocketSphinxDecoder(this.lib, attachLm(this.lib, ps, this.lm));
    } finally {
      this.lib.cmd_ln_free_r(config);
    }
  }

  /**
   * A front end that turns 16 kHz audio into the log mel spectrum of the model's filterbank
   * (feat.params' -lowerf, -upperf, -nfilt), one Float32Array per 10 ms frame, for
   * {@link PocketSphinxDecoder.processCepstra} after any change to the spectrum.
   */
  createLogMelFrontEnd(): LogMelFrontEnd {
    if (this.disposed) throw new Error('PocketSphinxEngine is disposed');
    const p = this.featureParams;
    const args = [
      '-samprate', String(SAMPLE_RATE), '-lowerf', p['lowerf'] ?? '', '-upperf', p['upperf'] ?? '', '-nfilt', p['nfilt'] ?? '',
      '-logspec', 'yes', '-lifter', '0', '-remove_noise', 'no', '-remove_silence', 'no',
    ];
    const config = makeConfig(this.lib, args, this.lib.fe_get_args());
    try {
      const fe = this.lib.fe_init_auto_r(config);
      if (fe === null) throw unavailable(`fe_init_auto_r rejected ${args.join(' ')}`);
      return new LogMelFrontEnd(this.lib, fe, Number(p['nfilt']));
    } finally {
      this.lib.cmd_ln_free_r(config);
    }
  }

  /** Releases the shared LM; decoders still alive keep their own reference to it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const decoder of this.spare.splice(0)) decoder.free();
    this.lib.ngram_model_free(this.lm);
  }
}

/** `-name value` lines of a feat.params file, without the dashes; empty if it cannot be read. */
function readFeatureParams(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const params: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^-(\S+)\s+(\S+)/.exec(line.trim());
    if (match) params[match[1]!] = match[2]!;
  }
  return params;
}

function makeConfig(lib: Bindings, args: readonly string[], defs: ArgDefs = lib.ps_args()): CmdLn {
  // cmd_ln_init copies its strings; cmd_ln_parse_r would keep pointers to koffi's temporaries.
  const config = lib.cmd_ln_init(null, defs, 1, ...args.flatMap((a) => ['const char *', a]), 'const char *', null);
  if (config === null) throw unavailable(`cmd_ln_init rejected the decoder arguments ${args.join(' ')}`);
  return config;
}

function attachLm(lib: Bindings, ps: Decoder, lm: NgramModel): Decoder {
  if (lib.ps_set_lm(ps, SEARCH_NAME, lm) < 0 || lib.ps_set_search(ps, SEARCH_NAME) < 0) {
    lib.ps_free(ps);
    throw unavailable('cannot attach the language model to the decoder');
  }
  return ps;
}

/** Frames per second of the decoder's features (`-frate`, 100 in the en-US model). */
export const FRAME_RATE = 100;

/** A recognised word of the last utterance, in frames from the utterance start (end inclusive). */
export interface WordSegment {
  word: string;
  startFrame: number;
  endFrame: number;
}

/** Silence, sentence marks, fillers and noise: segments that are not words of the hypothesis. */
const NON_WORD = /^(<s>|<\/s>|<sil>|\[[A-Z_]+\]|\+\+.*\+\+|\(NULL\))$/;

/** One ps_decoder_t: decodes one utterance at a time. */
export class PocketSphinxDecoder {
  private inUtterance = false;
  private freed = false;
  private readonly score: [number] = [0];

  constructor(
    private readonly lib: Bindings,
    private readonly ps: Decoder,
  ) {}

  startUtterance(): void {
    this.assertLive();
    if (this.inUtterance) return;
    check(this.lib.ps_start_utt(this.ps), 'ps_start_utt');
    this.inUtterance = true;
  }

  /** Feeds 16 kHz mono int16 samples to the current utterance. */
  process(pcm: Int16Array): void {
    if (!this.inUtterance) throw new LocalSttError('local_stt_decode_failed', 'process() outside an utterance');
    if (pcm.length === 0) return;
    check(this.lib.ps_process_raw(this.ps, pcm, pcm.length, 0, 0), 'ps_process_raw');
  }

  /** Feeds feature frames (cepstra as the model's front end computes them) to the current utterance. */
  processCepstra(frames: readonly Float32Array[]): void {
    if (!this.inUtterance) throw new LocalSttError('local_stt_decode_failed', 'processCepstra() outside an utterance');
    // One frame per call: with several, ps_process_cep can fill the feature queue before the search drains it.
    for (const frame of frames) check(this.lib.ps_process_cep(this.ps, [frame], 1, 0, 0), 'ps_process_cep');
  }

  /** Best hypothesis so far (partial while in an utterance, final after it). */
  hypothesis(): string {
    this.assertLive();
    return this.lib.ps_get_hyp(this.ps, this.score)?.trim() ?? '';
  }

  /** Ends the utterance and returns its final hypothesis. */
  endUtterance(): string {
    if (!this.inUtterance) return '';
    this.inUtterance = false;
    check(this.lib.ps_end_utt(this.ps), 'ps_end_utt');
    return this.hypothesis();
  }

  /**
   * The words of the best hypothesis with their frames (after endUtterance(), for the final one).
   * Alternative pronunciations (`read(2)`) are given as the word itself.
   */
  words(): WordSegment[] {
    this.assertLive();
    const out: WordSegment[] = [];
    const start: [number] = [0];
    const end: [number] = [0];
    let seg = this.lib.ps_seg_iter(this.ps);
    // Run to the end: ps_seg_next frees the iterator when it returns NULL (ps_seg_free is for stopping early).
    while (seg !== null) {
      const word = this.lib.ps_seg_word(seg) ?? '';
      if (!NON_WORD.test(word)) {
        this.lib.ps_seg_frames(seg, start, end);
        out.push({ word: word.replace(/\(\d+\)$/, ''), startFrame: start[0], endFrame: end[0] });
      }
      seg = this.lib.ps_seg_next(seg);
    }
    return out;
  }

  /** Drops any utterance in progress and starts a new audio stream (new channel, new timeline). */
  reset(): void {
    this.assertLive();
    if (this.inUtterance) {
      this.inUtterance = false;
      check(this.lib.ps_end_utt(this.ps), 'ps_end_utt');
    }
    check(this.lib.ps_start_stream(this.ps), 'ps_start_stream');
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.inUtterance = false;
    this.lib.ps_free(this.ps);
  }

  private assertLive(): void {
    if (this.freed) throw new Error('PocketSphinxDecoder is freed');
  }
}

/** A sphinxbase front end (fe_t) that outputs the log mel spectrum; one utterance at a time. */
export class LogMelFrontEnd {
  private freed = false;
  private readonly block: [Pointer | null] = [null];
  private readonly count: [number] = [0];

  constructor(
    private readonly lib: Bindings,
    private readonly fe: FrontEnd,
    /** Values per frame (filters). */
    readonly bands: number,
  ) {}

  /** Starts an utterance: drops samples left over from the last one. */
  start(): void {
    this.assertLive();
    check(this.lib.fe_start_utt(this.fe), 'fe_start_utt');
  }

  /** 16 kHz samples in, the frames they complete out; a partial frame waits for the next call. */
  process(pcm: Int16Array): Float32Array[] {
    this.assertLive();
    if (pcm.length === 0) return [];
    check(this.lib.fe_process_utt(this.fe, pcm, pcm.length, this.block, this.count), 'fe_process_utt');
    const n = this.count[0];
    const block = this.block[0];
    if (block === null) return [];
    try {
      // fe_process_utt allocates a block even for zero frames.
      if (n <= 0) return [];
      const rows = koffi.decode(block, koffi.array('void *', n)) as unknown[];
      return rows.map((row) => Float32Array.from(koffi.decode(row, koffi.array('float', this.bands, 'Typed')) as Float32Array));
    } finally {
      this.lib.fe_free_2d(block);
    }
  }

  /** Ends the utterance: the last, zero-padded frame if samples were left over. */
  end(): Float32Array[] {
    this.assertLive();
    const frame = new Float32Array(this.bands);
    check(this.lib.fe_end_utt(this.fe, frame, this.count), 'fe_end_utt');
    return this.count[0] > 0 ? [frame] : [];
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.lib.fe_free(this.fe);
  }

  private assertLive(): void {
    if (this.freed) throw new Error('LogMelFrontEnd is freed');
  }
}
