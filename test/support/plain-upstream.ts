import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'

export interface PlainReceived {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

/**
 * A plain-HTTP Zenzefi stand-in that both runtimes can reach the same way
 * (workerd's fetch can't be given our test CA per request, so the parity suite
 * uses HTTP; test/parity/start-worker.test.ts covers HTTPS through ZENZEFI_CA_FILE).
 *
 *   GET /page          an HTML page with a root-relative and an absolute upstream link
 *   GET /slow          "first " now, "last" 10 s later (an in-flight stream); counts streams the gateway abandons
 *   GET /hang          never answers
 *   any /ws… upgrade   WebSocket echo, text stays text and binary stays binary
 *   anything else      200 "ok"
 *
 * Every request and upgrade is recorded with its headers.
 */
export async function startPlainUpstream() {
  const received: PlainReceived[] = []
  let abandoned = 0
  const sockets = new Set<import('ws').WebSocket>()
  const server = createServer((req, res) => {
    received.push({ method: req.method!, url: req.url!, headers: req.headers })
    const path = req.url!.split('?')[0]
    if (path === '/page') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(
        '<!doctype html><html><head><title>Zenzefi</title><link rel="stylesheet" href="/css/app.css"></head>' +
          `<body><a id="rel" href="/certificates?page=2">list</a><a id="abs" href="${url}/admin/users">users</a></body></html>`,
      )
      return
    }
    if (path === '/hang') return // never answers (the gateway's timeout is the test)
    if (path === '/slow') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.write('first ')
      const timer = setTimeout(() => res.end('last'), 10_000)
      res.on('close', () => {
        clearTimeout(timer)
        if (!res.writableFinished) abandoned++
      })
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  })
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  server.on('upgrade', (req, socket, head) => {
    received.push({ method: 'UPGRADE', url: req.url!, headers: req.headers })
    socket.on('error', () => {})
    if (!req.url!.startsWith('/ws')) return void socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws)
      ws.on('close', () => sockets.delete(ws))
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    received,
    /** /slow responses whose connection the gateway closed before the end. */
    abandoned: () => abandoned,
    /** The last request (or upgrade) whose path starts with `path`. */
    lastTo(path: string): PlainReceived | undefined {
      return received.filter((r) => r.url.startsWith(path)).at(-1)
    },
    async close() {
      for (const ws of sockets) ws.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

export type PlainUpstream = Awaited<ReturnType<typeof startPlainUpstream>>
