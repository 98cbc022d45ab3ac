/** `npm run token -- <userId> [--admin]`: prints a token signed with the configured secret. */
import { loadConfig, ConfigError } from '../config';
import { isValidId } from '../presence/presence.validation';
import { mintToken } from './token';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const userId = args.find((a) => !a.startsWith('--'));
  if (!userId || !isValidId(userId)) {
    process.stderr.write('usage: npm run token -- <userId> [--admin]   (userId: 1-128 of A-Z a-z 0-9 . _ : @ -)\n');
    process.exit(2);
  }
  const config = loadConfig();
  if (config.usingDevSecret) process.stderr.write('warning: PRESENCE_JWT_SECRET is not set; signing with the development secret\n');
  process.stdout.write(`${await mintToken(userId, config.jwtSecret, { admin: args.includes('--admin') })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(1);
});
