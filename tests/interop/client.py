"""A support platform and an agent, written with Python grpcio against a running replygate.

Usage: python3 client.py HOST:PORT PROTO_DIR
Tokens come from the environment: RG_PLATFORM_TOKEN, RG_AGENT_TOKEN (subject py-agent),
RG_OTHER_AGENT_TOKEN (subject other), RG_EDITOR_TOKEN.
Generates the stubs from the .proto files, runs the main flow, exits non-zero on any mismatch.
"""
import os
import sys
import tempfile

from grpc_tools import protoc
import grpc


def generate(proto_dir, out_dir):
    files = [os.path.join("replygate/v1", f) for f in ("drafts.proto", "review.proto", "knowledge.proto")]
    import grpc_tools
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files])
    if rc != 0:
        sys.exit(f"protoc failed: {rc}")
    sys.path.insert(0, out_dir)


def main():
    addr, proto_dir = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp()
    generate(proto_dir, out)
    from replygate.v1 import drafts_pb2 as d, drafts_pb2_grpc as dg
    from replygate.v1 import review_pb2 as r, review_pb2_grpc as rg
    from replygate.v1 import knowledge_pb2 as k, knowledge_pb2_grpc as kg

    bearer = lambda var: (("authorization", "Bearer " + os.environ[var]),)
    platform, agent, other, editor = (bearer(v) for v in ("RG_PLATFORM_TOKEN", "RG_AGENT_TOKEN", "RG_OTHER_AGENT_TOKEN", "RG_EDITOR_TOKEN"))

    ch = grpc.insecure_channel(addr)
    drafts, review, knowledge = dg.DraftsStub(ch), rg.ReviewStub(ch), kg.KnowledgeStub(ch)

    try:
        drafts.CreateDraft(d.CreateDraftRequest(conversation_id="py-0", message="How do I block a contact on Lumo?"))
        sys.exit("a call without a token was served")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e

    confident = drafts.CreateDraft(d.CreateDraftRequest(conversation_id="py-1", message="How do I block a contact on Lumo?", channel="whatsapp", request_id="py-req-1", context={"os": "android"}), metadata=platform)
    assert confident.ai_generated and confident.disclosure, confident
    assert d.DraftState.Name(confident.state) == "AUTO_APPROVED", confident.state
    assert d.ConfidenceLevel.Name(confident.confidence.level) == "HIGH"
    assert confident.citations[0].article_id == "en/block-contact", confident.citations
    again = drafts.CreateDraft(d.CreateDraftRequest(conversation_id="py-1", message="How do I block a contact on Lumo?", request_id="py-req-1"), metadata=platform)
    assert again.id == confident.id

    unsure = drafts.CreateDraft(d.CreateDraftRequest(conversation_id="py-2", message="What's the weather in Rome tomorrow?"), metadata=platform)
    assert d.DraftState.Name(unsure.state) == "PENDING_REVIEW"
    assert d.ConfidenceLevel.Name(unsure.confidence.level) == "LOW"
    pending = review.ListPending(r.ListPendingRequest(), metadata=agent)
    assert unsure.id in [p.id for p in pending.drafts]
    try:
        review.Approve(r.ApproveRequest(draft_id=unsure.id), metadata=platform)
        sys.exit("a platform token approved a draft")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
    # The agent is the token's subject, whatever x-agent-id claims.
    claimed = review.Claim(r.ClaimRequest(draft_id=unsure.id), metadata=agent + (("x-agent-id", "someone-else"),))
    assert claimed.claimed_by == "py-agent"
    try:
        review.Claim(r.ClaimRequest(draft_id=unsure.id), metadata=other)
        sys.exit("a second agent claimed a live lease")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    approved = review.Approve(r.ApproveRequest(draft_id=unsure.id, edited_body="No forecasts here, sorry."), metadata=agent)
    assert d.DraftState.Name(approved.state) == "APPROVED" and approved.human_reviewed

    stream = drafts.StreamDeliveries(d.StreamDeliveriesRequest(after_cursor=0), metadata=platform)
    got = []
    for delivery in stream:
        got.append(delivery)
        if len(got) == 2:
            stream.cancel()
            break
    assert [g.draft_id for g in got] == [confident.id, unsure.id], got
    assert got[1].text.startswith("No forecasts here, sorry.") and got[1].author == "py-agent"
    ack = drafts.AckDelivery(d.AckDeliveryRequest(cursor=got[0].cursor), metadata=platform)
    assert ack.newly_acked and d.DraftState.Name(ack.draft.state) == "DELIVERED"

    conv = drafts.GetConversation(d.GetConversationRequest(conversation_id="py-2"), metadata=platform)
    assert [e.kind for e in conv.events][:6] == ["message_received", "draft_created", "conversation_state_changed", "draft_claimed", "draft_approved", "draft_edited"], conv.events
    # The claim made the conversation the agent's until they hand it back.
    assert d.ConversationState.Name(conv.state) == "HUMAN_OWNED" and conv.owner == "py-agent", conv
    back = review.HandBack(r.ConversationActionRequest(conversation_id="py-2"), metadata=agent)
    assert d.ConversationState.Name(back.state) == "RESOLVED" and back.owner == "", back

    try:
        drafts.CreateDraft(d.CreateDraftRequest(conversation_id="py-3", message="x" * 9000), metadata=platform)
        sys.exit("oversized message accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "message" in e.details() and "8192" in e.details(), e

    art = knowledge.UpsertArticle(k.UpsertArticleRequest(article=k.Article(locale="en", title="Python stickers", body="Stickers from Python.\n\n## Steps\nTap the snake icon.")), metadata=editor)
    assert art.id == "en/python-stickers" and art.version == 1
    hits = knowledge.Search(k.SearchRequest(query="python snake stickers", limit=3), metadata=agent)
    assert hits.hits[0].article_id == "en/python-stickers", hits
    print("interop ok")


if __name__ == "__main__":
    main()
