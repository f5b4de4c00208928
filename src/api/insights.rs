//! `replygate.v1.Insights`: managers.

use super::{convert, pb};
use crate::app::App;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct InsightsApi {
    app: Arc<App>,
}

impl InsightsApi {
    pub fn new(app: Arc<App>) -> Self {
        InsightsApi { app }
    }
}

#[tonic::async_trait]
impl pb::insights_server::Insights for InsightsApi {
    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let r = request.into_inner();
        let channel = (!r.channel.is_empty()).then_some(r.channel);
        let stats = self
            .app
            .insights
            .stats(
                r.from.map(convert::millis),
                r.to.map(convert::millis),
                channel.as_deref(),
            )
            .await?;
        Ok(Response::new(convert::stats(stats)))
    }
}
