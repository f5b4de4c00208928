//! `replygate.v1.Knowledge`: content teams.

use super::identity::editor;
use super::{convert, pb};
use crate::app::App;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct KnowledgeApi {
    app: Arc<App>,
}

impl KnowledgeApi {
    pub fn new(app: Arc<App>) -> Self {
        KnowledgeApi { app }
    }
}

#[tonic::async_trait]
impl pb::knowledge_server::Knowledge for KnowledgeApi {
    async fn upsert_article(
        &self,
        request: Request<pb::UpsertArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let editor = editor(&request);
        let article = request
            .into_inner()
            .article
            .ok_or_else(|| Status::invalid_argument("article: is required"))?;
        let stored = self
            .app
            .knowledge
            .upsert(convert::article_input(article), &editor)
            .await?;
        Ok(Response::new(convert::article(stored)))
    }

    async fn delete_article(
        &self,
        request: Request<pb::DeleteArticleRequest>,
    ) -> Result<Response<pb::DeleteArticleResponse>, Status> {
        let editor = editor(&request);
        let version = self
            .app
            .knowledge
            .delete(&request.into_inner().id, &editor)
            .await?;
        Ok(Response::new(pb::DeleteArticleResponse { version }))
    }

    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let article = self.app.knowledge.get(&request.into_inner().id).await?;
        Ok(Response::new(convert::article(article)))
    }

    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        let r = request.into_inner();
        let locale = (!r.locale.is_empty()).then_some(r.locale);
        let (articles, next_page_token) = self
            .app
            .knowledge
            .list(locale.as_deref(), r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListArticlesResponse {
            articles: articles.into_iter().map(convert::article).collect(),
            next_page_token,
        }))
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let r = request.into_inner();
        let locale = (!r.locale.is_empty()).then_some(r.locale);
        let results = self
            .app
            .knowledge
            .search(&r.query, locale.as_deref(), r.limit)
            .await?;
        Ok(Response::new(convert::search_response(results)))
    }

    async fn list_curated_answers(
        &self,
        request: Request<pb::ListCuratedAnswersRequest>,
    ) -> Result<Response<pb::ListCuratedAnswersResponse>, Status> {
        let r = request.into_inner();
        let locale = (!r.locale.is_empty()).then_some(r.locale);
        let state = convert::curated_state_filter(r.state)?;
        let (answers, next_page_token) = self
            .app
            .memory
            .list(locale.as_deref(), state, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListCuratedAnswersResponse {
            answers: answers.into_iter().map(convert::curated_answer).collect(),
            next_page_token,
        }))
    }

    async fn get_curated_answer(
        &self,
        request: Request<pb::GetCuratedAnswerRequest>,
    ) -> Result<Response<pb::CuratedAnswer>, Status> {
        let answer = self.app.memory.get(&request.into_inner().id).await?;
        Ok(Response::new(convert::curated_answer(answer)))
    }

    async fn disable_curated_answer(
        &self,
        request: Request<pb::CuratedAnswerRequest>,
    ) -> Result<Response<pb::CuratedAnswer>, Status> {
        let editor = editor(&request);
        let answer = self
            .app
            .memory
            .disable(&request.into_inner().id, &editor)
            .await?;
        Ok(Response::new(convert::curated_answer(answer)))
    }

    async fn enable_curated_answer(
        &self,
        request: Request<pb::CuratedAnswerRequest>,
    ) -> Result<Response<pb::CuratedAnswer>, Status> {
        let editor = editor(&request);
        let answer = self
            .app
            .memory
            .enable(&request.into_inner().id, &editor)
            .await?;
        Ok(Response::new(convert::curated_answer(answer)))
    }

    async fn delete_curated_answer(
        &self,
        request: Request<pb::CuratedAnswerRequest>,
    ) -> Result<Response<pb::DeleteCuratedAnswerResponse>, Status> {
        let editor = editor(&request);
        self.app
            .memory
            .delete(&request.into_inner().id, &editor)
            .await?;
        Ok(Response::new(pb::DeleteCuratedAnswerResponse {}))
    }
}
