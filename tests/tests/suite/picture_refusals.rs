//! What the edge refuses of picture uploads, through the real Worker: what is not a whole
//! JPEG, PNG, WebP or AVIF by its bytes, pictures too large, bodies over 10 MB (before they are
//! read), other shops' admins, shoppers and anonymous callers, and uploads past the admin's
//! own budget. Each is refused with problem+json and leaves neither an object in the bucket nor
//! a row; the upload that should pass, beside them, does.

use api::{images::ItemImage, token::Role, Problem, ProblemKind};
use e2e::{pictures, two_shops::TwoShops, Edge};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use super::product_pictures::{header_of, open, picture_key, picture_rows, upload, A, B};

/// Sends only the head of a picture upload announcing `length` bytes, and reads what comes
/// back (the edge closes the connection after a refusal).
async fn head_only_upload(
    edge: &Edge,
    domain: &str,
    token: &str,
    item: Uuid,
    length: usize,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = edge.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/admin/items/{item}/images?alt=An%20oak%20chair HTTP/1.1\r\nHost: {domain}\r\n\
         Authorization: Bearer {token}\r\nIdempotency-Key: {}\r\n\
         Content-Type: image/png\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        Uuid::new_v4()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("the refusal comes without the body")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn not_pictures() -> Vec<(&'static str, Vec<u8>)> {
    let whole = pictures::png(32, 32, [0, 0, 0], [255, 255, 255]);
    let mut png_then_html = whole[..16].to_vec();
    png_then_html.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    vec![
        ("svg", br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#.to_vec()),
        ("html", b"<!doctype html><script>alert(1)</script>".to_vec()),
        ("png header then html", png_then_html),
        ("gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec()),
        ("truncated png", whole[..whole.len() - 5].to_vec()),
        ("empty", Vec::new()),
    ]
}

#[sqlx::test(migrations = "../migrations")]
async fn what_is_not_a_picture_is_refused_and_nothing_is_stored(db: PgPool) {
    let w = open(&db).await;
    let admin = w.keys.token(w.a.org_id, Role::Admin, "owner");
    let chair = w.a.item(&db, "CHAIR").await;
    let refused = |response: reqwest::Response,
                   status: StatusCode,
                   kind: ProblemKind,
                   what: String| async move {
        assert_eq!(response.status(), status, "{what}");
        assert_eq!(
            header_of(&response, "content-type"),
            "application/problem+json",
            "{what}"
        );
        let problem: Problem = response.json().await.unwrap();
        assert!(problem.is(kind), "{what}: {problem:?}");
    };
    for (what, bytes) in not_pictures() {
        let response = upload(&w.edge, A, Some(&admin), chair.id, bytes)
            .send()
            .await
            .unwrap();
        refused(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::UnsupportedMediaType,
            what.to_owned(),
        )
        .await;
    }
    for (what, bytes) in [
        ("png 9000 wide", pictures::png(9_000, 1, [0; 3], [0; 3])),
        ("jpeg 20000 tall", pictures::jpeg(10, 20_000)),
        ("avif 65000 square", pictures::avif(65_000, 65_000)),
    ] {
        let response = upload(&w.edge, A, Some(&admin), chair.id, bytes)
            .send()
            .await
            .unwrap();
        refused(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::ImageTooLarge,
            what.to_owned(),
        )
        .await;
    }
    // Over 10 MB: refused from Content-Length, before the body is read. Only the request's
    // head is sent (a client streaming 10 MB would race the early answer and may see its
    // connection closed mid-write): the 413 comes with no body byte sent.
    let head = head_only_upload(&w.edge, A, &admin, chair.id, 10 * 1024 * 1024 + 1).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("application/problem+json"), "{head}");
    assert!(head.contains("payload-too-large"), "{head}");
    // No alt text.
    let response = w
        .edge
        .post(A, &format!("/api/admin/items/{}/images", chair.id))
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .body(pictures::jpeg(10, 10))
        .send()
        .await
        .unwrap();
    refused(
        response,
        StatusCode::BAD_REQUEST,
        ProblemKind::MalformedRequest,
        "no alt".into(),
    )
    .await;

    assert!(w.edge.stored_images().await.is_empty());
    assert_eq!(picture_rows(&db).await, 0);
    // And what is well-formed in each format is taken.
    for bytes in [
        pictures::jpeg(800, 600),
        pictures::webp(640, 480, 7),
        pictures::avif(320, 240),
    ] {
        let response = upload(&w.edge, A, Some(&admin), chair.id, bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(w.edge.stored_images().await.len(), 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_shops_admins_add_or_remove_pictures(db: PgPool) {
    let w = open(&db).await;
    let chair = w.a.item(&db, "CHAIR").await;
    let photo = pictures::jpeg(100, 100);
    let shopper = w.keys.token(w.a.org_id, Role::Shopper, "shopper");
    let other_admin = w.keys.token(w.b.org_id, Role::Admin, "rival");
    for (who, token, status) in [
        ("no token", None, StatusCode::UNAUTHORIZED),
        ("a shopper", Some(shopper.as_str()), StatusCode::FORBIDDEN),
        (
            "another shop's admin",
            Some(other_admin.as_str()),
            StatusCode::FORBIDDEN,
        ),
        (
            "a forged token",
            Some("eyJhbGciOiJub25lIn0.e30."),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let response = upload(&w.edge, A, token, chair.id, photo.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{who}");
        assert!(response.json::<Problem>().await.is_ok(), "{who}");
    }
    assert!(w.edge.stored_images().await.is_empty());
    assert_eq!(picture_rows(&db).await, 0);

    // The owner's picture: the rival can neither remove it through their own domain nor see
    // it served there.
    let admin = w.keys.token(w.a.org_id, Role::Admin, "owner");
    let created = upload(&w.edge, A, Some(&admin), chair.id, photo.clone())
        .send()
        .await
        .unwrap();
    let picture: ItemImage = created.json().await.unwrap();
    let path = format!("/api/admin/items/{}/images/{}", chair.id, picture.id);
    for (domain, token) in [(B, &other_admin), (A, &shopper)] {
        let response = w
            .edge
            .request(Method::DELETE, domain, &path)
            .bearer_auth(token)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{domain}: {}",
            response.status()
        );
    }
    assert_eq!(picture_rows(&db).await, 1);
    assert_eq!(
        w.edge.get(A, &picture.url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let elsewhere = w.edge.get(B, &picture.url).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let problem: Problem = elsewhere.json().await.unwrap();
    assert!(problem.is(ProblemKind::NotFound));
    let conditional = w
        .edge
        .get(B, &picture.url)
        .header(
            header::IF_NONE_MATCH,
            format!("\"{}\"", pictures::sha256_hex(&photo)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(conditional.status(), StatusCode::NOT_FOUND);
    // The same bytes uploaded by the other shop are its own object, under its own prefix.
    let created = upload(
        &w.edge,
        B,
        Some(&other_admin),
        w.b.item(&db, "CHAIR").await.id,
        photo,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let mut stored = w.edge.stored_images().await;
    stored.sort();
    let mut expected = vec![
        picture_key(&w.a, &picture.url),
        picture_key(&w.b, &picture.url),
    ];
    expected.sort();
    assert_eq!(stored, expected);
}

#[sqlx::test(migrations = "../migrations")]
async fn uploads_spend_a_budget_of_their_own(db: PgPool) {
    let limits = json!({ "upload": { "limit": 2, "window_seconds": 60 } });
    let w = TwoShops::with_limits_on_first(&db, [A, B], limits).await;
    let admin = w.keys.token(w.a.org_id, Role::Admin, "owner");
    let chair = w.a.item(&db, "CHAIR").await;
    for salt in 0..2 {
        let response = upload(
            &w.edge,
            A,
            Some(&admin),
            chair.id,
            pictures::webp(10, 10, salt),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let over = upload(
        &w.edge,
        A,
        Some(&admin),
        chair.id,
        pictures::webp(10, 10, 9),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header_of(&over, "ratelimit-policy").starts_with("\"upload\""));
    assert_eq!(w.edge.stored_images().await.len(), 2);
    // The admin's other writes are untouched.
    let restock = w
        .edge
        .request(Method::PATCH, A, &format!("/api/admin/items/{}", chair.id))
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({ "stock": 50 }))
        .send()
        .await
        .unwrap();
    assert_eq!(restock.status(), StatusCode::OK);
    let item: Value = restock.json().await.unwrap();
    assert_eq!(item["images"].as_array().map(Vec::len), Some(2));
}
