// Log in and register: plain forms that work with no script at all.
import { Layout, Message } from './layout'

export function LoginPage(props: { error?: string | null; notice?: string | null; email?: string }) {
  return (
    <Layout title="Log in">
      <section class="card narrow">
        <h1>Log in</h1>
        <Message error={props.error} notice={props.notice} />
        <form method="post" action="/login">
          <label>
            Email
            <input name="email" type="email" autocomplete="username" required maxlength={255} value={props.email ?? ''} />
          </label>
          <label>
            Password
            <input name="password" type="password" autocomplete="current-password" required maxlength={1024} />
          </label>
          <button type="submit">Log in</button>
        </form>
        <p>
          No account yet? <a href="/register">Register</a>
        </p>
      </section>
    </Layout>
  )
}

export function RegisterPage(props: { error?: string | null; email?: string; username?: string; fullName?: string }) {
  return (
    <Layout title="Register">
      <section class="card narrow">
        <h1>Create an account</h1>
        <Message error={props.error} />
        <form method="post" action="/register">
          <label>
            Email
            <input name="email" type="email" autocomplete="email" required maxlength={255} value={props.email ?? ''} />
          </label>
          <label>
            Username
            <input name="username" autocomplete="username" required minlength={3} maxlength={50} value={props.username ?? ''} />
          </label>
          <label>
            Full name <small>(optional)</small>
            <input name="full_name" autocomplete="name" maxlength={255} value={props.fullName ?? ''} />
          </label>
          <label>
            Password <small>(at least 8 characters)</small>
            <input name="password" type="password" autocomplete="new-password" required minlength={8} maxlength={1024} />
          </label>
          <button type="submit">Register</button>
        </form>
        <p>
          Have an account? <a href="/login">Log in</a>
        </p>
      </section>
    </Layout>
  )
}
