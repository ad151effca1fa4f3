// Light and dark themes: a `data-theme` attribute on <html> switches the CSS variables.

import { useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';
const KEY = 'spoor.theme';

function currentTheme(): Theme {
  return document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light';
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(currentTheme);
  const toggle = () => {
    const next: Theme = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(KEY, next);
    } catch {
      // Private mode: the theme lasts for this page only.
    }
    setTheme(next);
  };
  return [theme, toggle];
}
