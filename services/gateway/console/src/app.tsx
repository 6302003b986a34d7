import type { ComponentChildren } from "preact";
import { OrganizationKind } from "./gen/estate/common/v1/common_pb";
import { href, route } from "./router";
import { session, signOut, type Session } from "./session";
import { SignIn } from "./pages/SignIn";
import { pagesFor, type Page } from "./pages";

export function App() {
  const current = session.value;
  if (!current) return <SignIn />;
  const pages = pagesFor(current.kind);
  const path = route.value.path;
  const page = pages.find((p) => p.path === path[0]) ?? pages[0];
  return (
    <Shell current={current} pages={pages} active={page}>
      {page ? <page.component /> : <p>This key's organization has no console pages.</p>}
    </Shell>
  );
}

function Shell({
  current,
  pages,
  active,
  children,
}: {
  current: Session;
  pages: Page[];
  active: Page | undefined;
  children: ComponentChildren;
}) {
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Estate</span>
        <nav aria-label="Main">
          <ul>
            {pages.map((p) => (
              <li key={p.path}>
                <a href={href([p.path])} aria-current={p === active ? "page" : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {current.displayName} · {kindLabel(current.kind)}
        </span>
        <button type="button" class="link" id="sign-out" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

function kindLabel(kind: OrganizationKind): string {
  switch (kind) {
    case OrganizationKind.DISTRIBUTOR:
      return "Distributor";
    case OrganizationKind.PARTNER:
      return "Partner";
    case OrganizationKind.CUSTOMER:
      return "Customer";
    default:
      return "Organization";
  }
}
