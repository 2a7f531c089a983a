/**
 * Where things are, so one renderer serves the live gateway (absolute paths under /status) and the static
 * export (relative paths, so the files work from any host, any folder, even file://).
 */
export interface Links {
  home: string;
  incident(id: string): string;
  asset(name: string): string;
  atom: string;
  rss: string;
  badge(componentId: string): string;
  banner: string;
  api(name: string): string;
  /** Where the subscribe form posts; null hides the form (no live gateway to take it). */
  subscribe: string | null;
  unsubscribe: string | null;
}

const seg = (s: string): string => encodeURIComponent(s);

export function liveLinks(): Links {
  return {
    home: '/status',
    incident: (id) => `/status/incidents/${seg(id)}`,
    asset: (name) => `/status/assets/${seg(name)}`,
    atom: '/status/history.atom',
    rss: '/status/history.rss',
    badge: (id) => `/status/badge/${seg(id)}.svg`,
    banner: '/status/banner.json',
    api: (name) => `/api/v2/${name}`,
    subscribe: '/api/v2/subscribers',
    unsubscribe: '/status/unsubscribe',
  };
}

/**
 * `prefix` leads from the file being rendered back to the export root ('' for index.html, '../' for
 * incidents/<id>.html). The form posts to the live gateway at `liveOrigin`, when there is one.
 */
export function exportLinks(prefix: string, liveOrigin: string | null): Links {
  return {
    home: `${prefix}index.html`,
    incident: (id) => `${prefix}incidents/${seg(id)}.html`,
    asset: (name) => `${prefix}assets/${seg(name)}`,
    atom: `${prefix}history.atom`,
    rss: `${prefix}history.rss`,
    badge: (id) => `${prefix}badge/${seg(id)}.svg`,
    banner: `${prefix}banner.json`,
    api: (name) => `${prefix}api/v2/${name}`,
    subscribe: liveOrigin === null ? null : `${liveOrigin}/api/v2/subscribers`,
    unsubscribe: liveOrigin === null ? null : `${liveOrigin}/status/unsubscribe`,
  };
}

/** Absolute URLs for feeds, webhooks and emails, from `status.page.url` (the public page). */
export interface PublicUrls {
  page: string;
  incident(id: string): string;
  atom: string;
  rss: string;
  unsubscribe(id: string, token: string): string;
  confirm(id: string, token: string): string;
  documentation: string;
}

export function publicUrls(pageUrl: string): PublicUrls {
  const page = pageUrl.replace(/\/+$/, '');
  return {
    page,
    incident: (id) => `${page}/incidents/${seg(id)}`,
    atom: `${page}/history.atom`,
    rss: `${page}/history.rss`,
    unsubscribe: (id, token) => `${page}/unsubscribe?id=${seg(id)}&token=${seg(token)}`,
    confirm: (id, token) => `${page}/confirm?id=${seg(id)}&token=${seg(token)}`,
    documentation: `${page}#subscribe`,
  };
}
