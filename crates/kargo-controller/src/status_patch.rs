//! Status merge patches whose response is not decoded. The API answers a
//! patch with the whole object; for a Freight verified in every Stage of a
//! long pipeline that is most of the cost of the write, and the watch
//! caches get the new object anyway, so callers that only need the write
//! done use [`merge_status`].

use kube::api::{Api, Patch, PatchParams};
use kube::core::Request;
use serde_json::Value;

/// Merge-patches `name`'s status subresource; the response body is read
/// but not decoded. API errors come back as [`kube::Error::Api`] as from
/// [`Api::patch_status`].
pub async fn merge_status<K: kube::Resource + Clone>(
    api: &Api<K>,
    name: &str,
    patch: &Value,
) -> kube::Result<()> {
    let req = Request::new(api.resource_url())
        .patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .map_err(kube::Error::BuildRequest)?;
    api.clone()
        .into_client()
        .request_text(req)
        .await
        .map(|_| ())
}
