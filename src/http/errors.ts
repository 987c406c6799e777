// The one error type the app throws; src/app.ts turns it into {"detail": ...}.
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 502 | 503 | 504,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail)
  }
}

export const bearerChallenge = { 'WWW-Authenticate': 'Bearer' }
