/** Chat app accounts: local and OIDC sign-in, cookie sessions with CSRF tokens, login throttling. */
export { type Accounts, type AccountsOptions, createAccounts, type NewAccount } from './accounts.ts';
export type { ChatConfig } from './context.ts';
export { SESSION_COOKIE } from './sessions.ts';
