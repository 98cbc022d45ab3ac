/** Free TCP ports on 127.0.0.1 (Redis forbids --port 0): the bench's helper serves the tests too. */
export { findFreePort as freePort } from '../../bench/infra/ports';
