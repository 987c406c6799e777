import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { appFixture } from '../support/harness'

const f = appFixture()

describe('root and docs', () => {
  it('GET / welcomes with the version', async () => {
    const res = await f.t.request('/')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ message: 'Welcome to Zenzefi Backend', version: '9.9.9-test', docs: '/docs' })
  })

  it('the Node server reports the package version', async () => {
    const { packageVersion } = await import('../../src/runtime/node/deps')
    expect(packageVersion()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version)
  })

  it('/openapi.json is titled "Zenzefi Backend" and documents every route with the schemas that validate it', async () => {
    const res = await f.t.request('/openapi.json')
    expect(res.status).toBe(200)
    const doc = await res.json()
    expect(doc.info.title).toBe('Zenzefi Backend')
    for (const path of [
      '/api/v1/auth/register',
      '/api/v1/auth/login',
      '/api/v1/users/me',
      '/api/v1/tokens/purchase',
      '/api/v1/tokens/my-tokens',
      '/api/v1/tokens/{token_id}',
      '/health',
      '/health/detailed',
      '/',
    ]) {
      expect(doc.paths[path], path).toBeDefined()
    }
    const register = doc.components.schemas.RegisterRequest
    expect(register.required).toEqual(expect.arrayContaining(['email', 'username', 'password']))
    expect(register.properties.username).toMatchObject({ minLength: 3, maxLength: 50 })
    expect(doc.paths['/api/v1/users/me'].get.security).toEqual([{ Bearer: [] }])
    expect(doc.components.securitySchemes.Bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
  })

  it('/docs serves Swagger UI and /redoc serves ReDoc, both pointing at /openapi.json', async () => {
    for (const path of ['/docs', '/redoc']) {
      const res = await f.t.request(path)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toContain('text/html')
      expect(await res.text()).toContain('/openapi.json')
    }
  })

  it('unknown paths are a JSON 404', async () => {
    const res = await f.t.request('/nope')
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ detail: 'Not Found' })
  })

  it('CORS: listed origins get credentials, others get no CORS headers, never "*"', async () => {
    const ok = await f.t.request('/api/v1/auth/login', {
      method: 'OPTIONS',
      headers: { origin: 'https://127.0.0.1:61000', 'access-control-request-method': 'POST' },
    })
    expect(ok.status).toBeLessThan(300)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://127.0.0.1:61000')
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true')
    const bad = await f.t.request('/', { headers: { origin: 'https://evil.example' } })
    expect(bad.headers.get('access-control-allow-origin')).toBeNull()
  })
})
