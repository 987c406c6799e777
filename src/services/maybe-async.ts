// Values that are there at once on the hot path (a cached token) and come later otherwise
// (a database round trip): `then` only when there is something to wait for, so a cached
// answer costs no promise and no microtask.

export type MaybePromise<T> = T | Promise<T>

export const isPromise = <T>(v: MaybePromise<T>): v is Promise<T> => typeof (v as Promise<T> | null)?.then === 'function'

/** `f(v)` now when `v` is a value, once it resolves when it is a promise. */
export const andThen = <T, U>(v: MaybePromise<T>, f: (value: T) => MaybePromise<U>): MaybePromise<U> => (isPromise(v) ? v.then(f) : f(v))
