import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Length, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';

export class RegisterBody {
  @IsString() @Length(1, 64)
  provider!: string;

  @IsOptional() @IsString() @Length(1, 512)
  api_key?: string;

  @IsOptional() @IsString() @Length(1, 200)
  model?: string;

  @IsOptional() @IsString() @Length(1, 2048)
  base_url?: string;

  @IsOptional() @IsString() @MaxLength(8000)
  system_prompt?: string;
}

/** What the voice layer says the user heard of an interrupted reply (see README, chat contract). */
export class InterruptedBody {
  @IsInt() @Min(1)
  turn_id!: number;

  @IsString() @MaxLength(16000)
  message!: string;

  @IsString() @MaxLength(64000)
  reply!: string;

  @IsString() @MaxLength(64000)
  heard!: string;
}

export class ChatBody {
  @IsString() @Length(1, 200)
  registration_id!: string;

  @IsString() @Length(1, 200)
  session_id!: string;

  @IsString() @MinLength(1) @MaxLength(16000)
  message!: string;

  @IsOptional() @ValidateNested() @Type(() => InterruptedBody)
  interrupted?: InterruptedBody;
}
