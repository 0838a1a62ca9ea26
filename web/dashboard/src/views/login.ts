// The login form: asks for the admin API token and checks it with GET /api/v1/server.
import { ApiClient, ApiError, describe, isAbort } from '../api.ts';
import { h } from '../dom.ts';
import type { Dispose } from '../view.ts';

/** Shows the login form in `root`; `onToken` gets a token the API accepted. */
export function mountLogin(
  root: HTMLElement,
  onToken: (token: string) => void,
  notice: string | null,
): Dispose {
  const abort = new AbortController();
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'token-help login-error',
  });
  const error = h('p', {
    id: 'login-error',
    class: 'form-error',
    role: 'alert',
    'aria-live': 'assertive',
  });
  if (notice !== null) error.textContent = notice;
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    { id: 'login-form', class: 'card login', novalidate: true },
    h('h1', {}, 'Log in'),
    h('label', { for: 'token' }, 'Admin API token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'help' },
      'onair prints it at first start and keeps it in ',
      h('code', {}, '<dataDir>/api-token'),
      '.',
    ),
    submit,
    error,
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === '') {
      error.textContent = 'Enter the API token.';
      input.focus();
      return;
    }
    submit.disabled = true;
    error.textContent = '';
    check(token, abort.signal).then(
      (problem) => {
        submit.disabled = false;
        if (problem === null) {
          onToken(token);
          return;
        }
        error.textContent = problem;
        input.select();
      },
      (failure: unknown) => {
        submit.disabled = false;
        if (!isAbort(failure)) error.textContent = `Cannot check the token: ${describe(failure)}`;
      },
    );
  });

  root.append(form);
  input.focus();
  return () => {
    abort.abort();
  };
}

/** Null when the API accepts `token`, else what to tell the user. */
async function check(token: string, signal: AbortSignal): Promise<string | null> {
  const api = new ApiClient(token, () => undefined);
  try {
    await api.get('/api/v1/server', signal);
    return null;
  } catch (error) {
    if (error instanceof ApiError) {
      if (error.status === 401) return 'Wrong token.';
      if (error.status === 403) {
        return 'This address may not use the admin API (see api.allowFrom in the configuration).';
      }
      if (error.status === 0) return `Cannot reach onair: ${error.message}.`;
      return `The API refused: ${error.message}`;
    }
    throw error;
  }
}
