import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { getRequestListener } from '@hono/node-server'
import type { App, AppDeps } from '../../app'
import type { LiveSessions } from '../../gateway/live-sessions'
import { PROXY_PREFIX } from '../../rewrite/url-mapper'
import { ownCredentialCheck } from './own-credential'
import { createNodeProxy } from './proxy'
import { createWsRelay } from './ws'

// Served by the Hono app even though they sit under the proxy prefix.
const COOKIE_ENDPOINTS: Record<string, string> = {
  [`${PROXY_PREFIX}/authenticate`]: 'POST',
  [`${PROXY_PREFIX}/status`]: 'GET',
  [`${PROXY_PREFIX}/logout`]: 'DELETE',
}

export function isForwarded(method: string, url: string): boolean {
  if (!url.startsWith(`${PROXY_PREFIX}/`) && url !== PROXY_PREFIX && !url.startsWith(`${PROXY_PREFIX}?`)) return false
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  return COOKIE_ENDPOINTS[path] !== method
}

/**
 * The Node HTTP server: proxied traffic takes the lean node:http path, every
 * other route goes through the Hono app (Request/Response conversion is fine there).
 */
export function createNodeServer(deps: AppDeps, built: App): Server & { sessions: LiveSessions; shutdown(done: () => void): void } {
  const { planner, sessions } = built.gateway
  const isOwnCredential = deps.isOwnCredential ?? ownCredentialCheck(deps.config.secretKey)
  const proxy = createNodeProxy({ config: deps.config, planner, sessions, log: deps.log, isOwnCredential })
  const relay = createWsRelay({ config: deps.config, planner, tokens: built.services.tokens, sessions, log: deps.log, agent: proxy.agent, isOwnCredential })
  const hono = getRequestListener(built.app.fetch)

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (isForwarded(req.method ?? 'GET', req.url ?? '/')) {
      proxy.handle(req, res).catch((err) => {
        deps.log.error('proxy failure', { error: err })
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"detail":"Internal Server Error"}')
        else res.destroy()
      })
      return
    }
    void hono(req, res)
  }
  const server = createServer(handle)
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      // Any other Upgrade (e.g. curl's h2c) is declined: answer it as the plain request it also is.
      socket.unshift(head)
      const res = new ServerResponse(req)
      res.shouldKeepAlive = false
      res.assignSocket(socket as Socket)
      res.on('finish', () => {
        res.detachSocket(socket as Socket)
        socket.end()
      })
      return void handle(req, res)
    }
    relay.handleUpgrade(req, socket, head).catch((err) => {
      deps.log.error('websocket upgrade failure', { error: err })
      socket.destroy()
    })
  })
  server.on('close', () => {
    sessions.stop()
    proxy.agent.destroy()
  })
  return Object.assign(server, {
    sessions,
    /** Stop accepting, end open WebSockets (1001) and streams, let in-flight requests finish. */
    shutdown(done: () => void) {
      server.close(done)
      sessions.closeAll('shutdown')
      server.closeIdleConnections()
    },
  })
}
