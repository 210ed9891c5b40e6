//! The `kargo_object!` macro: a top-level object with `apiVersion`, `kind`,
//! `metadata`, `spec` and `status`, plus its `kube::Resource` impl, so every
//! kind is usable through a typed `kube::Api`.

/// Declares a Kubernetes-style object type with a spec and an optional status.
macro_rules! kargo_object {
    ($(#[$doc:meta])* $name:ident, $spec:ty, $status:ty, group = $group:expr, kind = $kind:literal, plural = $plural:literal, namespaced = $ns:tt) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// `group/version` of the object.
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub api_version: String,
            /// The object's kind.
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub kind: String,
            /// Standard object metadata.
            #[serde(default)]
            pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
            /// Desired state.
            #[serde(default, skip_serializing_if = "crate::object::is_default")]
            pub spec: $spec,
            /// Observed state.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<$status>,
        }

        impl kube::Resource for $name {
            type DynamicType = ();
            type Scope = kargo_object!(@scope $ns);
            fn kind(_: &()) -> std::borrow::Cow<'_, str> { $kind.into() }
            fn group(_: &()) -> std::borrow::Cow<'_, str> { $group.into() }
            fn version(_: &()) -> std::borrow::Cow<'_, str> { $crate::VERSION.into() }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> { $plural.into() }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta { &self.metadata }
            fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta { &mut self.metadata }
        }
    };
    (@scope true) => { k8s_openapi::NamespaceResourceScope };
    (@scope false) => { k8s_openapi::ClusterResourceScope };
}

/// True when a value equals its type's default (used to omit empty specs).
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
