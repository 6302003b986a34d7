//! Headless Chromium over WebDriver (Debian's `chromium` and
//! `chromium-driver`, started per test on a free port), with what every
//! console test needs: signing in, waiting for the page to settle, the
//! accessibility check (axe-core from the console's own node_modules) and
//! a screenshot of the page when a test fails.

use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Browsers open at once: each is a few processes, the machine has 2 cores.
static BROWSERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

/// How long a step may take to show its result in the page.
pub const PATIENCE: Duration = Duration::from_secs(20);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether this machine can run the browser tests; when it cannot, a test
/// is skipped with a note, except under CI (the test command installs
/// Chromium and builds the console first, so there it is a failure).
pub fn available() -> bool {
    let browser = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    let console = estate_gateway::console_is_built();
    if browser && console {
        return true;
    }
    let missing = match (browser, console) {
        (false, _) => "Chromium and ChromeDriver (apt-get install chromium chromium-driver)",
        _ => "the console build (npm ci && npm run build in services/gateway/console)",
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "browser tests need {missing}; deploy/local/test.sh installs and builds them"
    );
    eprintln!("skipped: browser tests need {missing}; deploy/local/test.sh provides it");
    false
}

/// One headless browser, with its driver and its own profile and
/// download folders.
pub struct Browser {
    pub client: Client,
    driver: Driver,
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::SemaphorePermit<'static>,
}

impl Browser {
    pub async fn open() -> anyhow::Result<Self> {
        let turn = BROWSERS.acquire().await?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let profile = tempfile::tempdir()?;
        let downloads = tempfile::tempdir()?;
        // Its own process group, so the browsers it starts go with it.
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .context("starting chromedriver")?,
        );
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1366,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(anyhow!("no WebDriver session: {error}")),
            }
        };
        Ok(Self {
            client,
            driver,
            downloads,
            _profile: profile,
            _turn: turn,
        })
    }

    /// Runs `scenario`; when it fails, saves a screenshot of the page as
    /// `target/browser-screenshots/{name}.png` and fails with its error.
    pub async fn run<F, Fut>(mut self, name: &str, scenario: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let outcome = scenario(self.client.clone()).await;
        let saved = match &outcome {
            Err(_) => self.screenshot(name).await,
            Ok(()) => String::new(),
        };
        let _ = self.client.clone().close().await;
        self.driver.stop();
        if let Err(error) = outcome {
            panic!("{name}: {error:#}\n(screenshot: {saved})");
        }
    }

    async fn screenshot(&self, name: &str) -> String {
        let folder = workspace().join("target").join("browser-screenshots");
        let path = folder.join(format!("{name}.png"));
        match self.client.screenshot().await {
            Ok(png) => {
                let _ = std::fs::create_dir_all(&folder);
                match std::fs::write(&path, png) {
                    Ok(()) => path.display().to_string(),
                    Err(error) => format!("not saved: {error}"),
                }
            }
            Err(error) => format!("not taken: {error}"),
        }
    }
}

/// chromedriver, stopped with every browser it started (its process
/// group) however the test ends.
struct Driver(Child);

impl Driver {
    fn stop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens the console at `gateway` and signs in with `key` for
/// `organization` (`organizations/{uuid}`).
pub async fn sign_in(
    client: &Client,
    gateway: &str,
    key: &str,
    organization: &str,
) -> anyhow::Result<()> {
    client.goto(&format!("{gateway}/")).await?;
    wait_for(client, "#api-key").await?.send_keys(key).await?;
    client
        .find(Locator::Css("#organization"))
        .await?
        .send_keys(organization)
        .await?;
    client.find(Locator::Css("#sign-in")).await?.click().await?;
    wait_for(client, "#sign-out").await?;
    Ok(())
}

/// The first element matching `css`, once there is one.
pub async fn wait_for(client: &Client, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("waiting for {css}"))
}

/// Clicks the first element matching `css`, once there is one.
pub async fn click(client: &Client, css: &str) -> anyhow::Result<()> {
    wait_for(client, css).await?.click().await?;
    Ok(())
}

/// Polls `check` until it returns `Some`, for up to `PATIENCE`; `what`
/// says what was awaited when it never does.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(error) => last_error = Some(error),
        }
        if started.elapsed() > PATIENCE {
            match last_error {
                Some(error) => bail!("{what}: never happened; last error: {error:#}"),
                None => bail!("{what}: never happened"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of every element matching `css`, in document order.
pub async fn texts(client: &Client, css: &str) -> anyhow::Result<Vec<String>> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(css)).await? {
        texts.push(element.text().await?);
    }
    Ok(texts)
}

/// The value of attribute `name` of every element matching `css`.
pub async fn attributes(client: &Client, css: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let mut values = Vec::new();
    for element in client.find_all(Locator::Css(css)).await? {
        values.push(element.attr(name).await?.unwrap_or_default());
    }
    Ok(values)
}

/// axe-core's serious and critical violations on the current page, as
/// `rule: target` lines (empty when there are none).
pub async fn accessibility_violations(client: &Client) -> anyhow::Result<Vec<String>> {
    static AXE: LazyLock<Result<String, String>> = LazyLock::new(|| {
        let path = workspace().join("services/gateway/console/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))
    });
    let axe = AXE.as_ref().map_err(|error| anyhow!("axe-core: {error}"))?;
    client.execute(axe, vec![]).await?;
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .flatMap(v => v.nodes.map(n => v.id + ': ' + n.target.join(' ') + ' (' + v.help + ')'))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(result)?)
}

/// The files Chromium finished downloading (no partial `.crdownload`).
pub fn downloaded(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        let partial = path.extension().is_some_and(|ext| ext == "crdownload");
        if !partial {
            files.push(path);
        }
    }
    Ok(files)
}

/// Saves a screenshot of the page for the README when
/// `ESTATE_CONSOLE_SCREENSHOTS` names a folder.
pub async fn shoot(client: &Client, name: &str) {
    if let Some(folder) = std::env::var_os("ESTATE_CONSOLE_SCREENSHOTS") {
        let folder = std::path::PathBuf::from(folder);
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::create_dir_all(&folder);
            let _ = std::fs::write(folder.join(format!("{name}.png")), png);
        }
    }
}
