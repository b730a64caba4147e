import { Injectable } from '@nestjs/common';
import { Logger as PinoNestLogger } from 'nestjs-pino';

/** Nest's own start-up chatter (modules loaded, routes mapped): debug lines, not info. */
const FRAMEWORK_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/** Nest's logger, written through the process's pino logger (JSON, request id in a request). */
@Injectable()
export class ApiLogger extends PinoNestLogger {
  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams.at(-1);
    if (typeof context === 'string' && FRAMEWORK_CONTEXTS.has(context))
      super.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }
}
