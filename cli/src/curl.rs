//! `kubectl apigw curl`: sends a request signed as an App, the way Alibaba's SDKs sign it
//! (core's `ClientSigner`), and prints the answer; `-v` shows the StringToSign and the headers,
//! which is what to compare with the gateway's `Invalid Signature, Server StringToSign:...`.

use std::collections::BTreeMap;

use apigw_core::resources::SignatureMethod;
use apigw_core::signature::{ClientRequest, ClientSigner, content_md5};
use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;

/// Flags of `curl`.
#[derive(clap::Args)]
pub struct CurlArgs {
    /// The App's key (or --secret).
    #[arg(long, env = "APIGW_APP_KEY")]
    app_key: Option<String>,
    /// The App's secret (or --secret).
    #[arg(long, env = "APIGW_APP_SECRET")]
    app_secret: Option<String>,
    /// Read appKey and appSecret from this Secret (`namespace/name`) of the cluster.
    #[arg(long, conflicts_with_all = ["app_key", "app_secret"])]
    secret: Option<String>,
    /// The method (default GET, or POST with --data).
    #[arg(short = 'X', long)]
    request: Option<String>,
    /// A header `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// A form body `a=1&b=2` (signed field by field, as the SDKs do).
    #[arg(short, long)]
    data: Option<String>,
    /// The Host header, when the URL names the gateway's address rather than the group's domain.
    #[arg(long)]
    host: Option<String>,
    /// Sign with HmacSHA1 instead of HmacSHA256.
    #[arg(long)]
    hmac_sha1: bool,
    /// Print the StringToSign and the request and response headers on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// PEM CA certificates to trust for https, besides Mozilla's roots.
    #[arg(long)]
    cacert: Option<std::path::PathBuf>,
    /// The URL (http:// or https://).
    url: String,
}

/// Signs, sends and prints; fails on a non-2xx answer (with `X-Ca-Error-Message`).
pub async fn run(args: CurlArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (key, secret) = credentials(&args).await?;
    let uri: Uri = args.url.parse()?;
    let method: Method = args.request.as_deref().unwrap_or(if args.data.is_some() { "POST" } else { "GET" }).parse()?;
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for header in &args.headers {
        let (name, value) =
            header.split_once(':').ok_or_else(|| format!("header {header:?}: expected `Name: value`"))?;
        headers.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    let body = args.data.clone().unwrap_or_default();
    if args.data.is_some() && !headers.keys().any(|name| name.eq_ignore_ascii_case("content-type")) {
        headers.insert("Content-Type".to_owned(), "application/x-www-form-urlencoded; charset=utf-8".to_owned());
    }
    let header =
        |name: &str| headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.clone());
    let content_type = header("content-type").unwrap_or_default();
    let accept = header("accept").unwrap_or_default();
    let md5 = match body.is_empty() || content_type.starts_with("application/x-www-form-urlencoded") {
        true => String::new(),
        false => content_md5(body.as_bytes()),
    };
    if !md5.is_empty() {
        headers.insert("Content-MD5".to_owned(), md5.clone());
    }
    let decode = |text: &str| form_urlencoded::parse(text.as_bytes()).into_owned().collect::<Vec<(String, String)>>();
    let query = decode(uri.query().unwrap_or_default());
    let form = if content_type.starts_with("application/x-www-form-urlencoded") { decode(&body) } else { vec![] };
    let nonce = format!("{:032x}", fastrand::u128(..));
    let signed = ClientRequest {
        method: method.as_str(),
        accept: &accept,
        content_md5: &md5,
        content_type: &content_type,
        path: uri.path(),
        query: query.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect(),
        form: form.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect(),
        timestamp_ms: jiff::Timestamp::now().as_millisecond(),
        nonce: &nonce,
    };
    let method_kind = if args.hmac_sha1 { SignatureMethod::HmacSHA1 } else { SignatureMethod::HmacSHA256 };
    let signer = ClientSigner { app_key: &key, app_secret: secret.as_bytes(), method: method_kind };
    if args.verbose {
        eprintln!("* StringToSign (newlines as #): {}", signer.string_to_sign(&signed).replace('\n', "#"));
    }
    let mut request = Request::builder().method(method.clone()).uri(uri.clone());
    if let Some(host) = &args.host {
        request = request.header(http::header::HOST, host);
    }
    for (name, value) in
        headers.iter().map(|(name, value)| (name.clone(), value.clone())).chain(signer.headers(&signed))
    {
        if args.verbose {
            eprintln!("> {name}: {value}");
        }
        request = request.header(name, value);
    }
    let client = crate::http_client::client(args.cacert.as_deref())?;
    let response = client
        .request(request.body(Full::new(Bytes::from(body)))?)
        .await
        .map_err(|error| format!("{}: {error:?}", args.url))?;
    let status = response.status();
    if args.verbose {
        eprintln!("< {status:?} {status}");
        for (name, value) in response.headers() {
            eprintln!("< {name}: {}", value.to_str().unwrap_or_default());
        }
    }
    let message = response.headers().get("x-ca-error-message").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let body = response.into_body().collect().await?.to_bytes();
    print!("{}", String::from_utf8_lossy(&body));
    match (status.is_success(), message) {
        (true, _) => Ok(()),
        (false, Some(message)) => Err(format!("{status}: {message}").into()),
        (false, None) => Err(format!("{status}").into()),
    }
}

/// The App's key and secret: from the flags, or from a Secret of the cluster.
async fn credentials(args: &CurlArgs) -> Result<(String, String), Box<dyn std::error::Error>> {
    if let (Some(key), Some(secret)) = (&args.app_key, &args.app_secret) {
        return Ok((key.clone(), secret.clone()));
    }
    let reference = args.secret.as_deref().ok_or("give --app-key and --app-secret, or --secret namespace/name")?;
    let (namespace, name) = reference.split_once('/').ok_or("--secret: expected namespace/name")?;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(Client::try_default().await?, namespace);
    let secret = secrets.get(name).await?;
    let field = |key: &str| -> Result<String, Box<dyn std::error::Error>> {
        let data =
            secret.data.as_ref().and_then(|data| data.get(key)).ok_or(format!("Secret {reference} has no {key}"))?;
        Ok(String::from_utf8(data.0.clone())?)
    };
    Ok((field("appKey")?, field("appSecret")?))
}
