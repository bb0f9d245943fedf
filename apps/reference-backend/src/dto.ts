import 'reflect-metadata';
import { IsOptional, IsString, Length, MaxLength, MinLength } from 'class-validator';

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

export class ChatBody {
  @IsString() @Length(1, 200)
  registration_id!: string;

  @IsString() @Length(1, 200)
  session_id!: string;

  @IsString() @MinLength(1) @MaxLength(16000)
  message!: string;
}
