// Access-token material: generation, the lookup hash, and the reversible
// encryption that lets `my-tokens` show a token again without storing it in clear.

const enc = new TextEncoder()
const dec = new TextDecoder()

export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{64}$/

function base64url(bytes: Uint8Array): string {
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function fromBase64url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/** 48 random bytes → 64 URL-safe characters. */
export function generateAccessToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(48)))
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** The token's only stored identity. 384 random bits need no salt or stretching. */
export async function hashAccessToken(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(token)))
  let out = ''
  for (const b of digest) out += HEX[b]
  return out
}

export interface TokenCipher {
  encrypt(token: string): Promise<string>
  /** null when the ciphertext was made under another SECRET_KEY. */
  decrypt(ciphertext: string): Promise<string | null>
}

/** AES-256-GCM under a key derived from SECRET_KEY with HKDF, so a database dump alone reveals no token. */
export async function createTokenCipher(secretKey: string): Promise<TokenCipher> {
  const ikm = await crypto.subtle.importKey('raw', enc.encode(secretKey), 'HKDF', false, ['deriveKey'])
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: enc.encode('zenzefi-backend'), info: enc.encode('access-token display v1') },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
  return {
    async encrypt(token) {
      const iv = crypto.getRandomValues(new Uint8Array(12))
      const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, enc.encode(token)))
      const out = new Uint8Array(iv.length + ct.length)
      out.set(iv)
      out.set(ct, iv.length)
      return base64url(out)
    },
    async decrypt(ciphertext) {
      try {
        const raw = fromBase64url(ciphertext)
        const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: raw.slice(0, 12) }, key, raw.slice(12))
        return dec.decode(pt)
      } catch {
        return null
      }
    },
  }
}
