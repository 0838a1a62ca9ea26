// The dashboard's entry point: the shell (header, alert region), the token, and the hash router.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { ApiClient } from './api.ts';
import { byId, setText } from './dom.ts';
import type { FeedStatus } from './feed.ts';
import { parseRoute } from './router.ts';
import type { Dispose, ViewContext } from './view.ts';
import { mountHistory } from './views/history.ts';
import { mountLogin } from './views/login.ts';
import { mountStream } from './views/stream.ts';
import { mountStreams } from './views/streams.ts';

/** Where the token is kept: for this tab only, gone when it closes. */
const TOKEN_KEY = 'onair.dashboard.token';

/** Runs the dashboard inside the shell of index.html. */
class Dashboard {
  readonly #view = byId('view', HTMLElement);
  readonly #error = byId('error', HTMLElement);
  readonly #feedStatus = byId('feed-status', HTMLElement);
  readonly #logout = byId('logout', HTMLAnchorElement);
  readonly #nav = byId('nav', HTMLElement);
  #token: string | null = readToken();
  #dispose: Dispose | null = null;
  /** Shown above the login form (why the user is asked again). */
  #notice: string | null = null;

  start(): void {
    window.addEventListener('hashchange', () => {
      this.#render();
    });
    this.#render();
  }

  #render(): void {
    this.#dispose?.();
    this.#dispose = null;
    this.#view.replaceChildren();
    this.#showError(null);
    this.#setFeedStatus(null);
    const route = parseRoute(location.hash);

    if (route.kind === 'logout') {
      this.#forgetToken();
      this.#notice = 'You are logged out.';
      history.replaceState(null, '', '#/');
    }
    // Stored by another script of this tab (or a test) since the page loaded.
    this.#token ??= readToken();
    const token = this.#token;
    this.#logout.hidden = token === null;
    this.#nav.hidden = token === null;
    if (token === null) {
      document.title = 'Log in · onair dashboard';
      const notice = this.#notice;
      this.#notice = null;
      this.#dispose = mountLogin(
        this.#view,
        (accepted) => {
          this.#saveToken(accepted);
          this.#render();
        },
        notice,
      );
      return;
    }

    const context: ViewContext = {
      api: new ApiClient(token, () => {
        this.#expired();
      }),
      showError: (message) => {
        this.#showError(message);
      },
      setFeedStatus: (status) => {
        this.#setFeedStatus(status);
      },
    };
    this.#markNav(route.kind === 'streams');
    switch (route.kind) {
      case 'streams':
      case 'logout':
        document.title = 'Live streams · onair dashboard';
        this.#dispose = mountStreams(this.#view, context);
        break;
      case 'stream':
        document.title = `${route.app}/${route.name} · onair dashboard`;
        this.#dispose = mountStream(this.#view, context, route.app, route.name);
        break;
      case 'history':
        document.title = `History of ${route.app}/${route.name} · onair dashboard`;
        this.#dispose = mountHistory(this.#view, context, route.app, route.name, route.query);
        break;
      case 'not-found':
        document.title = 'Not found · onair dashboard';
        this.#showError(`There is no page at #${route.hash}.`);
        break;
    }
  }

  /** The API refused the token: back to the login form, saying why. */
  #expired(): void {
    if (this.#token === null) return;
    this.#forgetToken();
    this.#notice = 'The API token was refused (it may have changed). Log in again.';
    // Later: this runs inside a request of the page being torn down.
    setTimeout(() => {
      this.#render();
    }, 0);
  }

  #saveToken(token: string): void {
    this.#token = token;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      // Storage disabled: the token lasts until the page is reloaded.
    }
  }

  #forgetToken(): void {
    this.#token = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // Storage disabled: nothing was kept.
    }
  }

  #showError(message: string | null): void {
    setText(this.#error, message ?? '');
    this.#error.hidden = message === null;
  }

  #setFeedStatus(status: FeedStatus | null): void {
    this.#feedStatus.hidden = status === null;
    if (status === null) return;
    this.#feedStatus.dataset['state'] = status.kind;
    switch (status.kind) {
      case 'connecting':
        setText(this.#feedStatus, 'Connecting…');
        break;
      case 'live':
        setText(this.#feedStatus, 'Live');
        break;
      case 'retrying':
        setText(
          this.#feedStatus,
          `Feed lost (${status.reason}); retrying in ${Math.max(1, Math.round(status.inMs / 1000))} s`,
        );
        break;
    }
  }

  #markNav(onStreams: boolean): void {
    for (const link of this.#nav.querySelectorAll('a')) {
      if (onStreams && link.getAttribute('href') === '#/')
        link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }
}

function readToken(): string | null {
  try {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token === null || token === '' ? null : token;
  } catch {
    return null;
  }
}

new Dashboard().start();
