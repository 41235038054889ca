//! Any bytes given to the HTTP/1.1 server's head parser parse, wait for more, or are refused
//! with a 4xx/5xx status (or closed unanswered); nothing panics. What parses has a path, a
//! method and at most one Content-Length, and parses the same when it arrives cut in two.
#![no_main]

use apigw_gateway::http1::server::parse_head;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = parse_head(&mut BytesMut::from(data));
    match &whole {
        Ok(Some(request)) => {
            assert!(request.headers().get_all("content-length").iter().count() <= 1);
            assert!(!request.method().as_str().is_empty());
        }
        Ok(None) => {}
        Err(Some(status)) => assert!(status.is_client_error() || status.is_server_error()),
        Err(None) => {}
    }
    if let (Ok(Some(request)), Some(cut)) = (&whole, data.len().checked_sub(1)) {
        let mut first = BytesMut::from(&data[..cut / 2]);
        if let Ok(None) = parse_head(&mut first) {
            first.extend_from_slice(&data[cut / 2..]);
            let again = parse_head(&mut first).expect("the whole head parses again").expect("complete");
            assert_eq!((again.method(), again.uri()), (request.method(), request.uri()));
        }
    }
});
