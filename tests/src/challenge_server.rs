//! A stand-in for "whatever a hostname's DNS reaches": a local HTTP server that answers paths
//! per `Host:`, as the origin's HTTP domain check (pointed here by `DOMAIN_CHECK_HTTP_VIA`)
//! asks them. Tests put the challenge in, or a wrong body, or a redirect, and see the verdict.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use tokio::{net::TcpListener, task::JoinHandle};

/// What the server answers on one (host, path).
#[derive(Debug, Clone)]
pub enum Answer {
    Body(String),
    RedirectTo(String),
}

type Answers = Arc<Mutex<HashMap<(String, String), Answer>>>;

#[derive(Debug)]
pub struct ChallengeServer {
    pub url: String,
    answers: Answers,
    task: JoinHandle<()>,
}

impl ChallengeServer {
    pub async fn start() -> Self {
        let answers = Answers::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new().fallback(answer).with_state(answers.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, answers, task }
    }

    /// Answers `GET http://{host}{path}` with `answer` from now on.
    pub fn answer(&self, host: &str, path: &str, answer: Answer) {
        self.answers
            .lock()
            .expect("answers")
            .insert((host.to_owned(), path.to_owned()), answer);
    }
}

impl Drop for ChallengeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(answers): State<Answers>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let key = (host, request.uri().path().to_owned());
    let found = answers.lock().expect("answers").get(&key).cloned();
    match found {
        Some(Answer::Body(body)) => body.into_response(),
        Some(Answer::RedirectTo(to)) => {
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
