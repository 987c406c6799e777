import bcrypt from 'bcryptjs'

// bcrypt reads at most 72 bytes; longer passwords are refused at registration
// rather than silently truncated.
export const MAX_PASSWORD_BYTES = 72

export function passwordBytes(password: string): number {
  return new TextEncoder().encode(password).length
}

export interface PasswordHasher {
  /** The bcrypt cost new hashes get (BCRYPT_ROUNDS), so a refusal can cost the same as a real check. */
  readonly rounds: number
  hash(password: string): Promise<string>
  verify(password: string, hash: string): Promise<boolean>
  close?(): Promise<void>
}

/**
 * bcryptjs hashes, one per cost factor BCRYPT_ROUNDS allows (4–15), of a random
 * password that was thrown away: no password matches them. A login for an
 * unknown email is compared against the one for the configured cost, so it pays
 * exactly one bcrypt verify, like a wrong password, with nothing computed ahead
 * (a promise made in one request and awaited in another never settles on Workers).
 */
const DUMMY_HASHES: Readonly<Record<number, string>> = {
  4: '$2b$04$u7smT8i3LSdggXojauV6P.UtnCpusY/Xj4JppgksKO2IaxNybOI0G',
  5: '$2b$05$LG7bz3WihOjrLVnLxrDKyeKvPBeT27JaFXLZTqKWCEWCoXKcuDfla',
  6: '$2b$06$2SsmjdtjaCSP89Jp8JjaZuTyJh2J24LE4FWCIYCgFvDaois1ID72m',
  7: '$2b$07$q50.BCahucepCfFHx0FF6eKNattRked9orULVTH4Gm8LTGKBShFEe',
  8: '$2b$08$A6lrmcIuGe//JEVJJJ1X/upUrsYT3TrbrvqYskbemabMHGg9aHCMq',
  9: '$2b$09$lfeXckHPqBUI8.kusHC80efbQBOnwR2bOjQo77r6ozx6QiD5xfFry',
  10: '$2b$10$9JGWGfBX9h51AO4s6zsL5ebZNWZVVHdZYTH1q0L3XlTvZAiAFqgU.',
  11: '$2b$11$CtUL.3VEu3rEhuCYzanxE.HGqgSYEBkND/Ic5/tcImMaeVRQd2gwm',
  12: '$2b$12$s6iZLmN3SN74EhrLhL7gCepcY2ppQlOuwI166Zh98lzpQR2aJ/aVG',
  13: '$2b$13$dnoELVIn/EfLbinHeJ/VcOWiHS9SWC0T5GH3LlIVXZbF1iVTe86.W',
  14: '$2b$14$cpW/tvJZaElos8egzoyfPuJGzmgeWVmbVv3tXiTqHCnwse3q/.uJS',
  15: '$2b$15$aHrsJ889lN6xJ4tPKF0AIeMe.92AfGcl2XoGECeJ/Iy860poTl0IG',
}

/** The dummy hash at this cost (see DUMMY_HASHES); a cost outside 4–15 is a configuration bug. */
export function dummyHash(rounds: number): string {
  const hash = DUMMY_HASHES[rounds]
  if (!hash) throw new RangeError(`no dummy bcrypt hash for cost ${rounds} (BCRYPT_ROUNDS is 4–15)`)
  return hash
}

/**
 * In-thread bcryptjs. Hashes are `$2b$` like passlib's, so the earlier backend's
 * hashes verify unchanged. On Node the runtime uses the worker pool instead.
 */
export function createBcryptHasher(rounds: number): PasswordHasher {
  return {
    rounds,
    hash: (password) => bcrypt.hash(password, rounds),
    verify: async (password, hash) => {
      try {
        return await bcrypt.compare(password, hash)
      } catch {
        return false
      }
    },
  }
}
