/** GraphQL over HTTP POST with keep-alive, without a client library in the way. */
import http from 'node:http';

/** A raw HTTP answer: status and body text. */
export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * POSTs a GraphQL request to `url` with `Authorization: Bearer <token>`.
 * Rejects on network errors or after `timeoutMs`; HTTP error statuses resolve normally.
 */
export function postGraphql(
  url: string,
  token: string,
  body: string,
  agent: http.Agent,
  timeoutMs = 10_000,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`POST ${url} timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

/** Builds the JSON body of a GraphQL request. */
export function graphqlBody(operationName: string, query: string, variables: Record<string, unknown>): string {
  return JSON.stringify({ operationName, query, variables });
}

/** True when a GraphQL answer is HTTP 200 with `data` and without `errors`. */
export function isGraphqlSuccess(answer: HttpAnswer): boolean {
  return answer.status === 200 && !answer.body.includes('"errors"') && answer.body.includes('"data"');
}

/** GET `url` and resolve with its status (0 when the connection fails). */
export function httpStatus(url: string, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: timeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(0));
  });
}
