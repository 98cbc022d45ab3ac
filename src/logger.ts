/** JSON logs with pino; every line of a request carries its request id. */
import pino, { Logger } from 'pino';
import { Config } from './config';

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'presence' } });
}
