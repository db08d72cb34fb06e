//! Customers and saved cards.

use holdfast_domain::customer::{self, CreateCustomer, Customer, SavedPaymentMethod};
use holdfast_domain::{ErrorCode, Scope};
use holdfast_store::UnitOfWork;

use crate::ids::new_id;
use crate::{Decision, Holdfast, RequestCtx, ServiceError};

impl Holdfast {
    pub async fn create_customer(
        &self,
        ctx: &RequestCtx,
        req: CreateCustomer,
    ) -> Result<Decision<Customer>, ServiceError> {
        let customer =
            customer::create_customer(new_id("cus"), ctx.scope.clone(), req, self.now())?;
        let unit = UnitOfWork {
            customers: vec![customer.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(unit, customer))
    }

    pub async fn get_customer(&self, scope: &Scope, id: &str) -> Result<Customer, ServiceError> {
        self.store
            .get_customer(scope, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::CustomerNotFound, "customer"))
    }

    /// Saves a card for a customer, so later confirms can use its `payment_method_id`.
    pub async fn save_payment_method(
        &self,
        ctx: &RequestCtx,
        customer_id: &str,
        token: String,
    ) -> Result<Decision<SavedPaymentMethod>, ServiceError> {
        let customer = self.get_customer(&ctx.scope, customer_id).await?;
        let processor = self.processor(&ctx.scope)?;
        let holdfast_processor::TokenInfo {
            card,
            processor_token,
        } = processor
            .inspect(&token)
            .await
            .map_err(|e| ServiceError::from_card_call(e, "payment_source_token"))?;
        let method = SavedPaymentMethod {
            id: new_id("pm"),
            scope: ctx.scope.clone(),
            customer_id: customer.id,
            card,
            processor_token,
            created_at: self.now(),
        };
        let unit = UnitOfWork {
            payment_methods: vec![method.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(unit, method))
    }
}
