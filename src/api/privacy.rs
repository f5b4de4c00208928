//! `replygate.v1.Privacy`: admins, for a customer's rights over their data.

use super::identity::editor;
use super::pb;
use crate::app::App;
use crate::privacy::Subject;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct PrivacyApi {
    app: Arc<App>,
}

impl PrivacyApi {
    pub fn new(app: Arc<App>) -> Self {
        PrivacyApi { app }
    }

    fn subject(&self, r: &pb::CustomerDataRequest) -> Result<Subject, Status> {
        Ok(Subject::from_request(
            &r.conversation_id,
            &r.customer_id,
            self.app.config.limits.max_id_chars,
        )?)
    }
}

#[tonic::async_trait]
impl pb::privacy_server::Privacy for PrivacyApi {
    async fn export_customer_data(
        &self,
        request: Request<pb::CustomerDataRequest>,
    ) -> Result<Response<pb::ExportCustomerDataResponse>, Status> {
        let subject = self.subject(request.get_ref())?;
        let (json, n) = self.app.privacy.export(&subject).await?;
        Ok(Response::new(pb::ExportCustomerDataResponse {
            json: json.to_string(),
            conversations: n as u32,
        }))
    }

    async fn erase_customer_data(
        &self,
        request: Request<pb::CustomerDataRequest>,
    ) -> Result<Response<pb::EraseCustomerDataResponse>, Status> {
        // Recorded under the admin's token subject ("api" without tokens).
        let actor = editor(&request);
        let subject = self.subject(request.get_ref())?;
        let report = self.app.privacy.erase(&subject, &actor).await?;
        let e = report.erased;
        Ok(Response::new(pb::EraseCustomerDataResponse {
            conversation_ids: report.conversation_ids,
            messages: e.messages as u32,
            drafts: e.drafts as u32,
            deliveries: e.deliveries as u32,
            curated_questions: e.curated_questions as u32,
            texts_kept_in_audit_chain: e.texts_kept_in_audit_chain as u32,
        }))
    }
}
