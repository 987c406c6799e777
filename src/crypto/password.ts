import bcrypt from 'bcryptjs'

// bcrypt reads at most 72 bytes; longer passwords are refused at registration
// rather than silently truncated.
export const MAX_PASSWORD_BYTES = 72

export function passwordBytes(password: string): number {
  return new TextEncoder().encode(password).length
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  verify(password: string, hash: string): Promise<boolean>
  close?(): Promise<void>
}

/**
 * In-thread bcryptjs. Hashes are `$2b$` like passlib's, so the earlier backend's
 * hashes verify unchanged. On Node the runtime uses the worker pool instead.
 */
export function createBcryptHasher(rounds: number): PasswordHasher {
  return {
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
