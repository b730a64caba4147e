import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP server on 127.0.0.1 that records what it receives and answers `status()`. */
export class WebhookSink {
  readonly received: ReceivedWebhook[] = [];
  status: () => number = () => 204;
  /** Headers of every answer (e.g. a Location for a redirect). */
  headers: Record<string, string> = {};

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static start(): Promise<WebhookSink> {
    return new Promise((resolve) => {
      let sink: WebhookSink;
      const server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (c: Buffer) => chunks.push(c));
        request.on('end', () => {
          sink.received.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
          response.writeHead(sink.status(), sink.headers).end();
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        sink = new WebhookSink(server, `http://127.0.0.1:${port}/hook`);
        resolve(sink);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
