import type { Server, ServerResponse } from 'node:http';

/**
 * Ends the connections of an HTTP server that is closing, at once where none is in use and right
 * after its answer where one is, so that the server's close waits for the answers in flight and
 * for nothing else.
 *
 * A server's close waits for every connection to end. An idle kept-alive one is closed at once,
 * but one with a request in hand is not: without this, that request is answered keeping the
 * connection alive, and the close then waits for the client to hang up or for the keep-alive
 * timeout (72 s in Fastify), longer than `SHUTDOWN_GRACE_MS`.
 *
 * Attach it before the server listens: it keeps the answers under way (one set entry each).
 */
export class ConnectionDrain {
  private readonly answering = new Set<ServerResponse>();
  private draining = false;

  constructor(private readonly server: Server) {
    // First among the listeners: the header is set before the app writes any.
    server.prependListener('request', (_request, response: ServerResponse) => {
      if (this.draining) return void response.setHeader('connection', 'close');
      this.answering.add(response);
      response.once('close', () => this.answering.delete(response));
    });
  }

  /**
   * From now on every answer closes its connection: those of requests still to come, and those
   * under way (whose headers are written with `Connection: close` when not written yet); idle
   * connections close now. Call it before closing the server.
   */
  drain(): void {
    this.draining = true;
    for (const response of this.answering) {
      if (!response.headersSent) response.setHeader('connection', 'close');
      // Headers already out (or written kept-alive after all): once answered, the connection is
      // idle, and closed as such. 'close' comes after Node has released the connection.
      else response.once('close', () => this.server.closeIdleConnections());
    }
    this.answering.clear();
    this.server.closeIdleConnections();
  }
}
