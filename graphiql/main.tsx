/**
 * GraphiQL for the presence API. scripts/build-graphiql.mjs bundles this file, with GraphiQL's
 * CSS and Monaco's workers, into static/graphiql/; src/http/graphiql.ts serves it at /graphiql.
 * Nothing here loads from a CDN, so the page works on an offline machine.
 */
import 'graphiql/style.css';
import './main.css';

import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';

import { createPresenceFetcher, sameOriginEndpoints } from './fetcher';
import { installMonacoWorkers } from './monaco-workers';

/** What the server tells the page, in `<script id="graphiql-config" type="application/json">`. */
interface PageConfig {
  /** Initial contents of the headers editor: a token placeholder in development, empty in production. */
  defaultHeaders: string;
}

const DEFAULT_QUERY = `# Presence API
#
# 1. Put a token in the Headers tab below.
# 2. Run this subscription (Ctrl/Cmd+Enter).
# 3. Open a new tab (+) and run the operations
#    commented out below, with the same token or
#    another contact's, to see events arrive here.

subscription WatchContacts {
  presenceChanged(initial: true) {
    reason
    previousStatus
    at
    presence {
      userId
      status
      customStatus
      version
      lastSeenAt
      devices {
        id
        type
        status
      }
    }
  }
}

# mutation Heartbeat {
#   heartbeat(device: { id: "graphiql", type: WEB }) {
#     ttlSeconds
#     nextHeartbeatInSeconds
#     presence { status version }
#   }
# }

# mutation SetStatus {
#   setStatus(input: { status: BUSY, customStatus: "In a meeting" }) {
#     status
#     customStatus
#     version
#   }
# }

# query Contacts {
#   contacts(onlineOnly: false) {
#     userId
#     status
#     lastSeenAt
#   }
# }
`;

function readPageConfig(): PageConfig {
  const text = document.getElementById('graphiql-config')?.textContent;
  if (!text) return { defaultHeaders: '' };
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'defaultHeaders' in parsed && typeof parsed.defaultHeaders === 'string') {
      return { defaultHeaders: parsed.defaultHeaders };
    }
  } catch {
    // A page without a valid config still works, with an empty headers editor.
  }
  return { defaultHeaders: '' };
}

installMonacoWorkers(import.meta.url);

const config = readPageConfig();
const fetcher = createPresenceFetcher(sameOriginEndpoints(window.location));
const container = document.getElementById('graphiql');
if (!container) throw new Error('index.html has no #graphiql element');

createRoot(container).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={DEFAULT_QUERY}
    defaultHeaders={config.defaultHeaders}
    defaultEditorToolsVisibility={config.defaultHeaders ? 'headers' : undefined}
  >
    <GraphiQL.Logo>
      <span className="presence-graphiql-logo">Presence API</span>
    </GraphiQL.Logo>
  </GraphiQL>,
);
