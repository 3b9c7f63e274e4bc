#!/usr/bin/env bash
# Grants the deployer (the identity that runs `pulumi up`, e.g. the service account Pulumi Deployments
# or GitHub Actions impersonates through workload identity federation) what this program needs in one
# project, and nothing at the organisation level. Review, then run once per project:
#
#   PROJECT=acme-apps-staging DEPLOYER=deployer@acme-ci.iam.gserviceaccount.com bash docs/iam/gcp-deployer-roles.sh
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${DEPLOYER:?set DEPLOYER (a service account email)}"
member="serviceAccount:${DEPLOYER}"

grant() { gcloud projects add-iam-policy-binding "$PROJECT" --member "$member" --role "$1" --condition None >/dev/null; echo "granted $1"; }

# Cloud Run services, and their IAM policy (run.invoker bindings): run.admin, not run.developer.
grant roles/run.admin
# Create the per-service runtime service accounts ...
grant roles/iam.serviceAccountAdmin
# ... and deploy services that run as them (actAs). Project-wide because the accounts are created by
# the program; narrow it to each account once they exist if your policy requires it.
grant roles/iam.serviceAccountUser
# Create the image and cache repositories, set cleanup policies, push images, and grant the Cloud Run
# service agent read access on a repository in another project.
grant roles/artifactregistry.admin
# The scan gate reads the vulnerability scan of each pushed digest (Container Analysis occurrences):
# containeranalysis.occurrences.list, and nothing that writes notes or occurrences.
grant roles/containeranalysis.occurrences.viewer
# Read the project number (for the Cloud Run service agent's address).
grant roles/browser
# A rollout's traffic analysis reads each new revision's request metrics (monitoring.timeSeries.list):
# "Grants read-only access to the Cloud Monitoring API". Needed by services with a rollout only.
grant roles/monitoring.viewer

# Per-secret accessor grants need only the secrets' IAM policy, not their values: a custom role is
# narrower than roles/secretmanager.admin.
role="projects/${PROJECT}/roles/secretIamAdmin"
if ! gcloud iam roles describe secretIamAdmin --project "$PROJECT" >/dev/null 2>&1; then
  gcloud iam roles create secretIamAdmin --project "$PROJECT" --title "Secret IAM admin" \
    --permissions secretmanager.secrets.get,secretmanager.secrets.getIamPolicy,secretmanager.secrets.setIamPolicy >/dev/null
fi
grant "$role"

# A promoting stack with multicloud-deploy:binaryAuthorization (docs/signing.md): the attestor, its
# note and the note's one grant, then each attestation. No KMS permission: prod signs nothing.
if [ -n "${BINARY_AUTHORIZATION:-}" ]; then
  grant roles/binaryauthorization.attestorsAdmin
  grant roles/binaryauthorization.policyViewer
  grant roles/containeranalysis.notes.editor
  grant roles/containeranalysis.notes.attacher
  grant roles/containeranalysis.occurrences.editor
  note_role="projects/${PROJECT}/roles/noteIamAdmin"
  if ! gcloud iam roles describe noteIamAdmin --project "$PROJECT" >/dev/null 2>&1; then
    gcloud iam roles create noteIamAdmin --project "$PROJECT" --title "Note IAM admin" \
      --permissions containeranalysis.notes.get,containeranalysis.notes.getIamPolicy,containeranalysis.notes.setIamPolicy >/dev/null
  fi
  grant "$note_role"
fi

# Private services gated with `healthGateServiceAccount`: let the deployer mint that account's
# identity tokens (only on that account). Set HEALTH_CHECK_SA to do it here.
if [ -n "${HEALTH_CHECK_SA:-}" ]; then
  gcloud iam service-accounts add-iam-policy-binding "$HEALTH_CHECK_SA" --project "$PROJECT" \
    --member "$member" --role roles/iam.serviceAccountOpenIdTokenCreator >/dev/null
  echo "granted roles/iam.serviceAccountOpenIdTokenCreator on $HEALTH_CHECK_SA"
fi
