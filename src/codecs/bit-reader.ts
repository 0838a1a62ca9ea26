// BitReader: MSB-first bits and Exp-Golomb codes over an RBSP, for the SPS / sequence-header parsers.
import { CodecError, type CodecErrorCode } from './codec-error.ts';

/**
 * MSB-first bit reader with Exp-Golomb codes (H.264 9.1, H.265 9.2; AV1's uvlc() has the same
 * layout); every read is bounds-checked and raises `CodecError` with the caller's code.
 */
export class BitReader {
  readonly #data: Buffer;
  readonly #code: CodecErrorCode;
  #bit = 0;

  constructor(data: Buffer, code: CodecErrorCode) {
    this.#data = data;
    this.#code = code;
  }

  /** Reads one bit. */
  bit(): number {
    const byte = this.#data[this.#bit >>> 3];
    if (byte === undefined) {
      throw new CodecError(
        this.#code,
        `Cannot read bit ${this.#bit}: data has ${this.#data.length} bytes`,
        this.#bit >>> 3,
      );
    }
    const value = (byte >>> (7 - (this.#bit & 7))) & 1;
    this.#bit += 1;
    return value;
  }

  /** Reads `n` bits as an unsigned number, u(n) / f(n); exact up to 53 bits. */
  bits(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 2 + this.bit();
    return value;
  }

  /** ue(v): unsigned Exp-Golomb, at most 31 leading zeros (values below 2^32 - 1). */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      zeros += 1;
      if (zeros > 31)
        throw new CodecError(this.#code, 'Exp-Golomb code longer than 32 bits', this.#bit >>> 3);
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v): signed Exp-Golomb. */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
