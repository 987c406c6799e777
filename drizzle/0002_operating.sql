CREATE TABLE "access_locks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"target_type" varchar(8) NOT NULL,
	"target_id" uuid NOT NULL,
	"message" text NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"lifted_at" timestamp with time zone,
	CONSTRAINT "access_locks_target_check" CHECK ("access_locks"."target_type" in ('user', 'token'))
);
--> statement-breakpoint
CREATE TABLE "audit_chain_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"last_id" bigint,
	"last_hmac" char(64) NOT NULL,
	"anchor_hmac" char(64) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL,
	"action" varchar(64) NOT NULL,
	"outcome" varchar(16) NOT NULL,
	"actor_type" varchar(16) NOT NULL,
	"actor_id" uuid,
	"subject_user_id" uuid,
	"resource_type" varchar(32),
	"resource_id" varchar(64),
	"ip" varchar(64),
	"user_agent" varchar(512),
	"request_id" varchar(128),
	"details" text DEFAULT '{}' NOT NULL,
	"prev_hmac" char(64) NOT NULL,
	"hmac" char(64) NOT NULL,
	CONSTRAINT "audit_events_outcome_check" CHECK ("audit_events"."outcome" in ('success', 'failure', 'denied')),
	CONSTRAINT "audit_events_actor_check" CHECK ("audit_events"."actor_type" in ('user', 'admin', 'system', 'cli', 'anonymous'))
);
--> statement-breakpoint
CREATE TABLE "proxy_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"token_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"device_key" char(64) NOT NULL,
	"device_source" varchar(16) NOT NULL,
	"first_ip" varchar(64),
	"last_ip" varchar(64),
	"user_agent" varchar(512),
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"end_reason" varchar(16),
	"requests" bigint DEFAULT 0 NOT NULL,
	"bytes_in" bigint DEFAULT 0 NOT NULL,
	"bytes_out" bigint DEFAULT 0 NOT NULL,
	"websockets_open" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "proxy_sessions_end_check" CHECK (("proxy_sessions"."ended_at" is null) = ("proxy_sessions"."end_reason" is null))
);
--> statement-breakpoint
ALTER TABLE "proxy_sessions" ADD CONSTRAINT "proxy_sessions_token_id_access_tokens_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."access_tokens"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "proxy_sessions" ADD CONSTRAINT "proxy_sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "access_locks_target_idx" ON "access_locks" USING btree ("target_type","target_id") WHERE "access_locks"."lifted_at" is null;--> statement-breakpoint
CREATE INDEX "audit_events_occurred_idx" ON "audit_events" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "audit_events_subject_idx" ON "audit_events" USING btree ("subject_user_id","occurred_at");--> statement-breakpoint
CREATE INDEX "audit_events_action_idx" ON "audit_events" USING btree ("action","occurred_at");--> statement-breakpoint
CREATE UNIQUE INDEX "proxy_sessions_open_device_key" ON "proxy_sessions" USING btree ("token_id","device_key") WHERE "proxy_sessions"."ended_at" is null;--> statement-breakpoint
CREATE INDEX "proxy_sessions_user_idx" ON "proxy_sessions" USING btree ("user_id","started_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "proxy_sessions_open_idx" ON "proxy_sessions" USING btree ("last_seen_at") WHERE "proxy_sessions"."ended_at" is null;--> statement-breakpoint
INSERT INTO audit_chain_head (id, last_id, last_hmac, anchor_hmac) VALUES (1, NULL, repeat('0', 64), repeat('0', 64));
