import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/**
 * Fetches `load()` now and every `everyMs` while the page is visible. Returns the latest data, the last
 * error (cleared by the next success), when it was loaded, and a function to reload at once.
 */
export function usePoll(load, everyMs) {
  const [state, setState] = useState({ data: null, error: null, at: null });
  const loadRef = useRef(load);
  loadRef.current = load;
  const alive = useRef(true);

  const reload = useCallback(async () => {
    try {
      const data = await loadRef.current();
      if (alive.current) setState({ data, error: null, at: Date.now() });
    } catch (error) {
      if (alive.current) setState((s) => ({ ...s, error }));
    }
  }, []);

  useEffect(() => {
    alive.current = true;
    reload();
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, everyMs);
    return () => {
      alive.current = false;
      clearInterval(t);
    };
  }, [everyMs, reload]);

  return { ...state, reload };
}

/** Re-renders every `ms`, for "12 s ago" and countdowns. */
export function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
